"""The bundled CNN trainer: ``ferclean train``, ``ferclean evaluate`` and ``ferclean predict``."""

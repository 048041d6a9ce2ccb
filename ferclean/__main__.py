from ferclean.cli import main

main()

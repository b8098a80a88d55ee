from tinyicenet.cli import main

main()

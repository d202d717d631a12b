from netstage.cli import main

main()

from netstage.auditor.cli import main

main()

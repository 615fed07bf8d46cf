from dlnotes.cli import main

main()

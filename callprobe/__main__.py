from callprobe.cli import main

main()

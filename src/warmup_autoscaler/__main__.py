from warmup_autoscaler.cli import main

main()

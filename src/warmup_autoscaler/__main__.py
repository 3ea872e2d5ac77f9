from warmup_autoscaler.entry import main

main()

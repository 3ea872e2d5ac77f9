"""`python -m warmup_autoscaler.worker`: the same as `warmup-autoscaler worker`."""

from warmup_autoscaler.entry import main

if __name__ == "__main__":
    main(["worker"])

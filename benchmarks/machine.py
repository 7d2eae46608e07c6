"""What the machine did while a benchmark ran: the hypervisor's steal (no TensorFlow, no torch, so
`torch_reference.py` in its own venv reads it too)."""


def steal_ticks():
    """(steal, total) CPU ticks of this machine so far (Linux /proc/stat; (0, 0) elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return 0, 0
    return ticks[7], sum(ticks)


def steal_share(start, end):
    """The share of the CPU time the hypervisor took between two `steal_ticks()` readings."""
    return (end[0] - start[0]) / max(end[1] - start[1], 1)

"""What a run runs on, on this machine: the local stack (services, workers, fakes as child
processes), its sandbox on the shared servers, the servers a run uses, the TCP proxy for
connection faults, child processes and waiting on conditions."""

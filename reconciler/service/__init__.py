"""The running parts: the poll cycle, worker leases, the decide stage, the daemon, the dry run,
the composition root (`wiring`), helper processes, metrics and the operators' digest.

Nothing is re-exported here: importing one part (the daemon's scheduler, say) never imports
the others.
"""

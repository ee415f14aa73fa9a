"""Sub-commands of ``lifeline-twin``: each module registers one command group."""

"""The pseudonymisation key's environment variables, by name: ``make run`` reads them before it
imports Dagster (``assets/run.py``), the resources when a step runs (``assets/resources.py``)."""

#: The secret HMAC key (never logged or stored).
KEY_ENV_VAR = "FSP_PSEUDONYMISATION_KEY"
#: Set to 1 for a deliberate change of key (the instance's earlier extracts were read with another).
KEY_CHANGE_ENV_VAR = "FSP_KEY_CHANGE_DELIBERATE"

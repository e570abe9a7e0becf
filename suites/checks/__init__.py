"""What the suites share to judge a sidecar: the clause verdict types (``verdict``), the
contract-derived expectations on responses (``expect``) and schema-breaking inputs
(``negative``). No pytest machinery here: a check raises, the plugin classifies."""

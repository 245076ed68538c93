"""Layer 2, builders: NADs and pod manifests for a case, and the Multus+libcni runtime that turns
a NAD into plugin calls (the netns backend and repro run it). Imports only spec/ and the core."""

"""The real-Multus tier (`--backend multus`): thin Multus + kube-apiserver + the stack's plugins."""

"""The kind backend: a kind cluster with Kube-OVN and Multus.

stack/ builds the cluster, kube/ talks to it."""

"""Upstream Go components built at run time from their official modules into the cache.

Nothing built here is committed: `go install`/`go build` of a pinned module version, driven by
this package, with GOBIN, GOMODCACHE and GOCACHE under the macmatrix cache so each version is
built once per machine and then reused.
"""

"""Plugin state stays in the run's folder whatever the config says (issue 12, section 4).

A pasted `"dataDir": "/any/path"` on host-local or tuning made the plugins (running as root)
write there and leave the files behind. Runs the real plugins on the netns backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from macmatrix.backends.netns import state_paths
from macmatrix.backends.netns.backend import Attachment, NetnsBackend, unavailable
from macmatrix.workflows.repro_report import render_markdown

WHY_NOT = unavailable()
needs_netns = pytest.mark.skipif(bool(WHY_NOT), reason=f"netns backend unavailable: {WHY_NOT}")


def conflist(outside: Path) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": "mv",
        "plugins": [
            {
                "type": "macvlan",
                "master": "eth1",
                "ipam": {
                    "type": "host-local",
                    "subnet": "10.7.0.0/24",
                    "dataDir": str(outside / "host-local"),
                },
            },
            {
                "type": "tuning",
                "capabilities": {"mac": True},
                "dataDir": str(outside / "tuning"),
            },
        ],
    }


def test_confine_overrides_what_the_config_wrote(tmp_path: Path) -> None:
    conf = conflist(Path("/elsewhere"))
    assert [w["field"] for w in state_paths.written(conf)] == ["ipam.dataDir", "dataDir"]
    got = state_paths.confine(conf, tmp_path)
    assert [(o["written"], o["used"]) for o in got] == [
        ("/elsewhere/host-local", str(tmp_path / "host-local")),
        ("/elsewhere/tuning", str(tmp_path / "tuning")),
    ]
    plugins = conf["plugins"]
    assert isinstance(plugins, list)
    assert plugins[0]["ipam"]["dataDir"] == str(tmp_path / "host-local")
    assert plugins[1]["dataDir"] == str(tmp_path / "tuning")


@needs_netns
@pytest.mark.netns
def test_the_real_plugins_write_nothing_where_the_config_points(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    element = {"name": "mv", "namespace": "ns", "mac": "02:12:34:56:78:9b"}
    with NetnsBackend() as nb:
        obs = nb.run_pod("p", "ns", [Attachment("ns/mv", conflist(outside), element)])
        run_tmp = nb.tmpdir
        confined = list(nb.confined)
        stack = nb.stack()
    assert obs.error is None and obs.interfaces.get("net1") == "02:12:34:56:78:9b"
    assert not outside.exists()  # host-local and tuning wrote nothing there...
    sent = [i["stdin"] for i in obs.invocations if i["command"] == "ADD"]
    assert sent[0]["ipam"]["dataDir"].startswith(str(run_tmp))  # ...but in the run's folder
    assert sent[1]["dataDir"].startswith(str(run_tmp))
    assert not run_tmp.exists()  # which went with the run
    assert {c["field"] for c in confined} == {"ipam.dataDir", "dataDir"}
    assert stack["state_paths"] == state_paths.NOTE


def test_the_repro_report_says_so() -> None:
    entry = {
        "id": "repro/mv",
        "outcome": "works",
        "reason": "",
        "state_confined": [
            {"network": "ns/mv", "plugin": "tuning", "field": "dataDir", "written": "/x/t"}
        ],
    }
    md = render_markdown(entry)
    assert "#### State paths confined" in md and "`/x/t` was not used" in md

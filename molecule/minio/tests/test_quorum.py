"""With one of the two nodes down (half the drives), objects stay readable (read quorum);
when it returns the cluster is healthy again. Destructive: runs after the other tests (phase 1)."""
import uuid

import pytest

from conftest import status, wait_for

testinfra_hosts = ["ansible://minio-1"]
pytestmark = pytest.mark.phase(1)


def test_read_quorum_with_one_node_down_then_healthy(hosts, addresses, root_clients):
    c1 = root_clients["minio-1"]
    key = f"app-data/quorum/{uuid.uuid4().hex}.txt"
    assert c1.run("pipe", f"s3/{key}", stdin="echo survives-a-node").rc == 0
    down = hosts["minio-2"]
    assert down.run("systemctl stop minio").rc == 0
    try:
        wait_for(lambda: status(hosts["minio-1"], addresses["minio-2"], "/minio/health/live") != "200", 60,
                 what="minio-2 down")
        got = wait_for(lambda: c1.run("cat", f"s3/{key}").stdout.strip() == "survives-a-node" or None, 120,
                       interval=2, what="read through minio-1 with minio-2 down")
        assert got
        # two of four drives: no write quorum (minio-1 notices its peer's loss on its own schedule)
        wait_for(lambda: status(hosts["minio-1"], addresses["minio-1"], "/minio/health/cluster") != "200", 120,
                 interval=2, what="minio-1 reporting no write quorum")
    finally:
        assert down.run("systemctl start minio").rc == 0
    for n in ("minio-1", "minio-2"):
        wait_for(lambda n=n: status(hosts["minio-1"], addresses[n], "/minio/health/cluster") == "200", 240,
                 interval=2, what=f"cluster healthy through {n}")
    assert c1.run("pipe", f"s3/{key}.after", stdin="echo back").rc == 0
    assert root_clients["minio-2"].run("cat", f"s3/{key}.after").stdout.strip() == "back"

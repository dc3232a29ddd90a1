"""Fixtures and helpers of the kafka scenario's tests (generic helpers: molecule/shared/gwtest.py).

The clients are the Kafka console tools inside the test hosts (the distribution the role
installed), with client settings of their own: TLS verified against the scenario's platform
CA, SCRAM as the user under test.
"""
import os
import pathlib
import sys

import pytest
import testinfra

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "shared"))
from gwtest import pytest_collection_modifyitems, pytest_configure, secret, wait_for  # noqa: E402,F401

NODES = ("kafka-1", "kafka-2", "kafka-3")
HOME = "/opt/kafka/current"
# the tools as the role runs them on Java 21 (its _kafka_tools_environment): a client JVM (C1
# only, serial GC) with the role's class-data archive, about 1.2 s a start on a quiet test host
# instead of 2.4-2.9 s without the archive and 4.5 s with kafka-run-class.sh's server defaults
TOOL = ('KAFKA_JVM_PERFORMANCE_OPTS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true'
        f' -XX:SharedArchiveFile=/opt/kafka/tools.jsa -XX:+AutoCreateSharedArchive" {HOME}/bin')
TOPICS = {"camera-events": 3, "vehicle-detections": 3, "alerts": 1}


def host_of(name):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def address(host):
    return host.run("ip -4 -o addr show dev eth0").stdout.split()[3].split("/")[0]


class Client:
    """The Kafka CLI on one host as one SCRAM user (settings in /root/client-NAME.properties)."""

    def __init__(self, host, user, password, bootstrap, name=None):
        self.host = host
        self.user = user
        self.bootstrap = bootstrap
        # one settings file per client: a client with a wrong password must not overwrite the
        # file of the real user's client on the same host
        self.config = f"/root/client-{name or user}.properties"
        host.run(
            f"umask 077; cat > {self.config} <<'EOF'\n"
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
            f'username="{user}" password="{password}";\n'
            "ssl.truststore.type=PEM\nssl.truststore.location=/etc/kafka/tls/ca.crt\n"
            "acks=all\nenable.idempotence=true\n"
            "EOF"
        )

    def produce(self, topic, lines):
        payload = "\\n".join(lines)
        return self.host.run(
            f"printf '{payload}\\n' | {TOOL}/kafka-console-producer.sh --bootstrap-server {self.bootstrap} "
            f"--command-config {self.config} --topic {topic}")

    def consume(self, topic, count, group, timeout_ms=30000):
        return self.host.run(
            f"{TOOL}/kafka-console-consumer.sh --bootstrap-server {self.bootstrap} --command-config {self.config} "
            f"--topic {topic} --group {group} --from-beginning --max-messages {count} --timeout-ms {timeout_ms}")

    def records(self, topic):
        """How many records the topic holds: the sum of its partitions' end offsets (nothing was
        deleted, and no transactional producer writes to the scenario's topics)."""
        out = self.host.run(f"{TOOL}/kafka-run-class.sh org.apache.kafka.tools.GetOffsetShell --bootstrap-server {self.bootstrap} "
                            f"--command-config {self.config} --topic {topic}")
        assert out.rc == 0, out.stderr[-2000:]
        return sum(int(line.rsplit(":", 1)[1]) for line in out.stdout.split())

    def topics(self, *args):
        return self.host.run(f"{TOOL}/kafka-topics.sh --bootstrap-server {self.bootstrap} "
                             f"--command-config {self.config} " + " ".join(args))


@pytest.fixture(scope="session")
def hosts():
    return {n: host_of(n) for n in NODES}


@pytest.fixture(scope="session")
def addresses(hosts):
    return {n: address(h) for n, h in hosts.items()}


@pytest.fixture(scope="session")
def app(hosts, addresses):
    """name -> a client for the user app on that node, bootstrapping from that node."""
    pw = secret("kafka_app_password")
    return {n: Client(hosts[n], "app", pw, f"{addresses[n]}:9092") for n in NODES}


@pytest.fixture(scope="session")
def admin(hosts, addresses):
    return Client(hosts["kafka-1"], "kafka-admin", secret("kafka_admin_password"), f"{addresses['kafka-1']}:9092")

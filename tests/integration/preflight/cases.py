"""The pre-flight test's inventory: one valid host per role, and one host per bad value.

Every host is this machine (ansible_connection local): playbooks/preflight.yml only checks,
so nothing changes here; the test runs a copy whose play does not stop at the first failing
host, so that every case reports. Each host is in its own group and points the role's
*_group variables at it, so that a case never sees another case's hosts.
"""

# Valid settings for every role (secrets are throwaway test values).
VALID = {
    "groundwork_mirror_url": "http://127.0.0.1:8480",
    "haproxy_stats_password": "stats-pass-4711",
    "redis_admin_password": "admin-pass-4711x",
    "redis_replication_password": "repl-pass-4711xx",
    "redis_sentinel_password": "sent-pass-4711xx",
    "redis_sentinel_auth_password": "sentauth-4711xx",
    "redis_exporter_password": "export-pass-4711",
    "redis_app_password": "app-pass-4711xxx",
    "pgbouncer_admin_password": "pgb-admin-4711",
    "pgbouncer_stats_password": "pgb-stats-4711",
    "postgresql_superuser_password": "su-pass-4711xx",
    "postgresql_replication_password": "repl-pass-4711xx",
    "postgresql_patroni_api_password": "api-pass-4711xx",
    "minio_root_user": "minioadmin",
    "minio_root_password": "minio-pass-4711",
    "prometheus_web_password": "prom-pass-4711",
    "prometheus_alertmanager_password": "am-pass-4711xx",
    "alertmanager_web_password": "am-pass-4711xx",
    "kafka_inter_broker_password": "kafka-ib-4711xx",
    "kafka_admin_password": "kafka-adm-4711xx",
    "kafka_lag_exporter_password": "kafka-lag-4711x",
    "kafka_tls_keystore_password": "kafka-ks-4711xx",
    "vault_init_file": "/nonexistent/groundwork-preflight/vault-init.vault",
    "vault_init_password_file": "/nonexistent/groundwork-preflight/vault-init-password",
    "workload_tls_ca_content": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    "workload_vault_urls": ["https://127.0.0.1:8200"],
    "workload_vault_role_id": "workload",
    "workload_vault_secret_id": "workload-secret-id-4711",
    "workload_postgresql_hosts": ["127.0.0.1"],
    "workload_redis_sentinels": ["127.0.0.1"],
    "workload_kafka_bootstrap_servers": ["127.0.0.1:9092"],
    "workload_minio_endpoints": ["https://127.0.0.1:9000"],
}

# The groups a role's host is in (besides its own), and the *_group variables that point at them.
ROLE_GROUPS = {
    "common": [],
    "node_exporter": [],
    "nvidia_gpu": ["gpu_hosts"],
    "alertmanager": ["alertmanager"],
    "haproxy": ["haproxy"],
    "vault": ["vault"],
    "minio": ["minio"],
    "etcd": ["etcd"],
    "postgresql": ["postgresql", "etcd"],
    "timescaledb": ["postgresql", "etcd"],
    "pgbouncer": ["pgbouncer", "postgresql", "etcd"],
    "redis": ["redis"],
    "redis_sentinel": ["redis_sentinel", "redis"],
    "kafka": ["kafka"],
    "prometheus": ["prometheus", "alertmanager"],
    "duckdb": ["duckdb"],
    "workload": ["workload"],
}
GROUP_VARS = ["alertmanager_group", "alertmanager_prometheus_group", "duckdb_group", "etcd_group",
              "kafka_group", "minio_group", "pgbouncer_postgresql_group", "postgresql_etcd_group",
              "postgresql_group", "prometheus_alertmanager_group", "redis_group", "redis_sentinel_group",
              "timescaledb_postgresql_group", "vault_group"]
EXTRA = {
    "timescaledb": {"postgresql_timescaledb": True},
    # read from the platform CA that the pre-flight makes first on a new controller (as the lab's
    # inventory reads it): the checks evaluate it
    "workload": {"workload_tls_ca_content": "{{ lookup('ansible.builtin.file', common_tls_ca_dir ~ '/ca.crt') }}"},
}

# (role, variable, bad value, kind, other settings the check needs). Each must stop the pre-flight with a message naming the
# variable. Kinds: type, range, format, secret (empty or too weak), cross (a rule between variables).
CASES = []


def bad(role, kind, var, *values, also=None):
    """`also`: other settings the case needs for the check to apply (they are valid)."""
    CASES.extend((role, var, value, kind, also or {}) for value in values)


PORTS = ("0", "65536", "-1")
NOT_AN_INT = ("eighty", "80x", [80])
ADDRESSES = ("10.0.0.300", "not-an-address", "10.0.0.1/24")

# common
bad("common", "format", "common_apt_proxy", "ftp://proxy:3142", "proxy:3142", "http://proxy:3142/path/x")
bad("common", "type", "common_apt_cache_valid_time", *NOT_AN_INT)
bad("common", "format", "common_timezone", "Mars/Olympus Mons", "UTC;rm", "")
bad("common", "format", "common_limits", [{"domain": "*", "item": "nofile"}], [{"domain": "*", "item": "nofile", "value": 1, "type": "medium"}], [{}])
bad("common", "format", "common_private_address", *ADDRESSES)
bad("common", "format", "common_extra_sysctl", {"bad key!": 1}, {"vm.x": "a\nb"}, {"kernel.x=y": 1})
# node_exporter
bad("node_exporter", "range", "node_exporter_port", *PORTS)
bad("node_exporter", "type", "node_exporter_port", *NOT_AN_INT)
bad("node_exporter", "format", "node_exporter_listen_address", *ADDRESSES)
bad("node_exporter", "secret", "node_exporter_basic_auth_users", {"ops": "plain"}, {"ops": ""}, {"ops": "$1$md5"})
bad("node_exporter", "cross", "node_exporter_disabled_collectors", ["systemd"], ["textfile", "cpu"], ["systemd", "textfile"],
    also={"node_exporter_enabled_collectors": ["systemd", "textfile"]})
# nvidia_gpu
bad("nvidia_gpu", "range", "nvidia_gpu_exporter_port", *PORTS)
bad("nvidia_gpu", "type", "nvidia_gpu_exporter_port", *NOT_AN_INT)
bad("nvidia_gpu", "format", "nvidia_gpu_exporter_listen_address", *ADDRESSES)
bad("nvidia_gpu", "range", "nvidia_gpu_exporter_timeout", "0", "-3", "soon")
# alertmanager
bad("alertmanager", "range", "alertmanager_port", *PORTS)
bad("alertmanager", "range", "alertmanager_cluster_port", *PORTS)
bad("alertmanager", "type", "alertmanager_port", *NOT_AN_INT)
bad("alertmanager", "secret", "alertmanager_web_password", "", "short", " " * 12)
bad("alertmanager", "format", "alertmanager_webhook_urls", ["ftp://hook"], ["not a url"], ["http://"])
bad("alertmanager", "format", "alertmanager_critical_group_wait", "5", "soon", "")
bad("alertmanager", "format", "alertmanager_group_interval", "5 m", "-1m", "later")
# haproxy
bad("haproxy", "range", "haproxy_stats_port", *PORTS)
bad("haproxy", "range", "haproxy_prometheus_port", *PORTS)
bad("haproxy", "type", "haproxy_maxconn", *NOT_AN_INT)
bad("haproxy", "secret", "haproxy_stats_password", "", "short", "has space in it")
bad("haproxy", "format", "haproxy_log_level", "loud", "", "DEBUGGING")
bad("haproxy", "range", "haproxy_nbthread", "-2", "100000", "4097")
bad("haproxy", "type", "haproxy_backends", "be_app", 3, {"name": "be"})
# vault
bad("vault", "range", "vault_port", *PORTS)
bad("vault", "type", "vault_key_shares", *NOT_AN_INT)
bad("vault", "cross", "vault_key_threshold", "9", "1", "6")
bad("vault", "format", "vault_seal", "kms", "transit", "")
bad("vault", "secret", "vault_static_seal_key", "", "short", "not-base64-but-forty-four-characters-long!!=",
    also={"vault_seal": "static"})
bad("vault", "range", "vault_pki_renew_percent", "0", "101", "-5", also={"vault_pki_enabled": True})
bad("vault", "format", "vault_policies", {"root": "path \"*\" {}"}, {"Bad Name": "x"}, {"ok": 3})
bad("vault", "format", "vault_policies", {"app": 'path "secret/*" { capabilities = ["read"]'},
    {"app": 'path secret { capabilities = ["read"] }'}, {"app": 'path "a" { capabilities = ["read" "list"] }'})
bad("vault", "cross", "vault_listen_address", "8.8.8.8", "1.1.1.1", "2001:4860::8888", also={"vault_tls_enabled": False})
# minio
bad("minio", "range", "minio_port", *PORTS)
bad("minio", "type", "minio_console_port", *NOT_AN_INT)
bad("minio", "secret", "minio_root_password", "", "short", "has space in it")
bad("minio", "format", "minio_root_user", "a", "bad user!", "")
bad("minio", "format", "minio_listen_address", *ADDRESSES)
bad("minio", "cross", "minio_console_port", "9000")
bad("minio", "format", "minio_server_sha256", "abc", "Z" * 64, "0" * 63)
bad("minio", "cross", "minio_server_version", "DEVELOPMENT.2099-01-01T00-00-00Z", "RELEASE.2030-01-01T00-00-00Z", "DEVELOPMENT.2000")
# etcd
bad("etcd", "range", "etcd_client_port", *PORTS)
bad("etcd", "range", "etcd_peer_port", *PORTS)
bad("etcd", "type", "etcd_metrics_port", *NOT_AN_INT)
bad("etcd", "format", "etcd_listen_address", *ADDRESSES)
bad("etcd", "cross", "etcd_peer_port", "2379", "2381")
bad("etcd", "cross", "etcd_metrics_port", "2379", "2380")
bad("etcd", "format", "etcd_cluster_token", "has space", "semi;colon", "")
bad("etcd", "type", "etcd_extra_settings", "x", ["a"], 3)
# postgresql
bad("postgresql", "range", "postgresql_port", *PORTS)
bad("postgresql", "range", "postgresql_exporter_port", *PORTS)
bad("postgresql", "type", "postgresql_max_connections", *NOT_AN_INT)
bad("postgresql", "secret", "postgresql_superuser_password", "", "short", "")
bad("postgresql", "secret", "postgresql_users", [{"name": "app", "password": ""}], [{"name": "app", "password": None}], [{"name": "app", "password": " "}])
bad("postgresql", "format", "postgresql_hba_rules",
    [{"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/33", "method": "scram-sha-256"}],
    [{"type": "host", "database": "all", "user": "all", "address": "300.1.1.1/32", "method": "scram-sha-256"}],
    [{"type": "host", "database": "all", "user": "all", "address": "", "method": "scram-sha-256"}])
bad("postgresql", "format", "postgresql_allowed_networks", ["10.0.0.0/33"], ["not-a-network"], ["10.0.0.300"])
bad("postgresql", "format", "postgresql_tls_source", "vault", "", "letsencrypt")
bad("postgresql", "type", "postgresql_timescaledb", "maybe", "2", "yes please")
# timescaledb
bad("timescaledb", "range", "timescaledb_port", *PORTS)
bad("timescaledb", "type", "timescaledb_port", *NOT_AN_INT)
bad("timescaledb", "format", "timescaledb_hypertables", [{"name": "Bad-Name", "columns": ["t timestamptz"]}],
    [{"name": "ok", "columns": []}], [{"name": "ok", "columns": ["t timestamptz"], "retention": "forever"}])
# pgbouncer
bad("pgbouncer", "range", "pgbouncer_port", *PORTS)
bad("pgbouncer", "range", "pgbouncer_server_port", *PORTS)
bad("pgbouncer", "type", "pgbouncer_max_client_conn", *NOT_AN_INT)
bad("pgbouncer", "range", "pgbouncer_max_client_conn", "10", "0", "199")
bad("pgbouncer", "secret", "pgbouncer_admin_password", "", "short", "elevenchars")
bad("pgbouncer", "secret", "pgbouncer_stats_password", "", "short", "elevenchars")
bad("pgbouncer", "format", "pgbouncer_pool_mode", "pooled", "", "TRANSACTION")
# redis
bad("redis", "range", "redis_port", *PORTS)
bad("redis", "range", "redis_exporter_port", *PORTS)
bad("redis", "type", "redis_maxmemory_cap_mb", *NOT_AN_INT)
bad("redis", "secret", "redis_admin_password", "", "short", "has space in it x")
bad("redis", "secret", "redis_replication_password", "", "short", "x")
bad("redis", "format", "redis_flavor", "keydb", "", "Redis")
bad("redis", "format", "redis_bind_addresses", ["10.0.0.300"], ["localhost!"], "10.0.0.1")
# redis_sentinel
bad("redis_sentinel", "range", "redis_sentinel_port", *PORTS)
bad("redis_sentinel", "type", "redis_sentinel_quorum", *NOT_AN_INT)
bad("redis_sentinel", "cross", "redis_sentinel_quorum", "0", "2", "5")
bad("redis_sentinel", "secret", "redis_sentinel_password", "", "short", "x")
bad("redis_sentinel", "secret", "redis_sentinel_auth_password", "", "short", "x")
bad("redis_sentinel", "range", "redis_sentinel_down_after_milliseconds", "0", "-1", "10")
# kafka
bad("kafka", "range", "kafka_jmx_exporter_port", *PORTS)
bad("kafka", "range", "kafka_lag_exporter_port", *PORTS)
bad("kafka", "type", "kafka_heap_mb", *NOT_AN_INT)
bad("kafka", "secret", "kafka_admin_password", "", "short", "x")
bad("kafka", "secret", "kafka_inter_broker_password", "", "short", "x")
bad("kafka", "format", "kafka_sasl_mechanism", "PLAIN", "", "SCRAM-SHA-1")
bad("kafka", "range", "kafka_min_insync_replicas", "0", "-1", "-3")
bad("kafka", "cross", "kafka_default_replication_factor", "2", "5", "9")
bad("kafka", "format", "kafka_topics", [{"name": "bad topic", "partitions": 1, "replication_factor": 1}],
    [{"name": "t", "partitions": 0, "replication_factor": 1}], [{"name": "", "partitions": 1, "replication_factor": 1}])
# prometheus
bad("prometheus", "range", "prometheus_port", *PORTS)
bad("prometheus", "range", "prometheus_alertmanager_port", *PORTS)
bad("prometheus", "type", "prometheus_port", *NOT_AN_INT)
bad("prometheus", "secret", "prometheus_web_password", "", "short", " " * 12)
bad("prometheus", "format", "prometheus_listen_address", *ADDRESSES)
bad("prometheus", "format", "prometheus_liveness_interval", "2", "soon", "2d")
bad("prometheus", "format", "prometheus_liveness_for", "3", "", "1h30")
bad("prometheus", "range", "prometheus_liveness_blackbox_port", *PORTS)
bad("prometheus", "format", "prometheus_liveness_probes", {"redis": "udp"}, {"redis": "health"}, {"minio": 80})
# duckdb
bad("duckdb", "format", "duckdb_install_source", "apt", "", "conda")
bad("duckdb", "format", "duckdb_example_dataset_size", "huge", "", "10")
bad("duckdb", "type", "duckdb_example_dataset_seed", *NOT_AN_INT)
bad("duckdb", "type", "duckdb_databases", "db", 3, {"name": "x"})

# Rules that each have a check and a message of their own since the checks were split (issue 16).
bad("redis", "cross", "redis_min_replicas_to_write", "1", "2", "5")
bad("redis", "cross", "redis_tls_auth_clients", "yes", also={"redis_tls_enabled": True, "redis_tls_source": "platform"})
bad("redis", "secret", "redis_exporter_password", "", "short")
bad("redis", "format", "redis_maxmemory", "lots", "8 gb")
bad("redis", "format", "redis_announce_ip", "nope")
bad("redis_sentinel", "format", "redis_sentinel_master_name", "bad name", "")
bad("redis_sentinel", "format", "redis_sentinel_bind_addresses", "10.0.0.1", ["10.0.0.300"])
bad("redis_sentinel", "range", "redis_sentinel_failover_timeout", "999")
bad("alertmanager", "format", "alertmanager_deadmansswitch_interval", "soon")
bad("alertmanager", "cross", "alertmanager_smtp_smarthost", "mail", "mail:port", also={"alertmanager_email_to": ["ops@example.com"]})
bad("alertmanager", "cross", "alertmanager_web_tls_key_file", "/etc/alertmanager/web.key")
bad("alertmanager", "cross", "alertmanager_team_receivers", {"team": "nope"})
bad("common", "format", "common_extra_sysctl", {"vm.x": True})
bad("duckdb", "format", "duckdb_version", "2", "latest")
bad("duckdb", "format", "duckdb_metrics_interval", "5 fortnights")
bad("duckdb", "cross", "duckdb_databases", [{"name": "a", "path": "/srv/a.db"}, {"name": "a", "path": "/srv/b.db"}],
    [{"name": "a", "path": "/srv/a.db"}, {"name": "b", "path": "/srv/a.db"}], [{"name": "a", "path": "/srv/a.db", "colour": "red"}])
bad("haproxy", "cross", "haproxy_prometheus_port", "8404")
bad("haproxy", "secret", "haproxy_stats_password", "has#hash1")
bad("haproxy", "cross", "haproxy_frontends", [{"name": "fe", "port": 80, "default_backend": "nope"}],
    [{"name": "fe", "port": 80, "use_backends": [{"backend": "nope", "if": "{ path_beg /x }"}]}], [{"name": "stats", "port": 80}])
bad("haproxy", "range", "haproxy_backends", [{"name": "be", "servers": [{"name": "s1", "address": "10.0.0.1", "port": 80, "weight": 300}]}],
    [{"name": "be", "servers": [{"name": "s1", "address": "10.0.0.1", "port": 0}]}])
bad("kafka", "cross", "kafka_lag_exporter_port", "9092", "7071")
bad("kafka", "cross", "kafka_client_listener", "NOPE")
bad("kafka", "cross", "kafka_admin_user", "kafka-broker")
bad("kafka", "format", "kafka_process_roles", ["zookeeper"], "broker")
bad("kafka", "format", "kafka_acls", [{"principal": "alice", "resource_type": "topic", "resource_name": "t", "operations": ["read"]}],
    [{"principal": "User:alice", "resource_type": "table", "resource_name": "t", "operations": ["read"]}])
bad("kafka", "range", "kafka_heap_ram_share", "0.9", "0")
bad("minio", "format", "minio_drives", "/var/lib/minio/data", ["/var/lib/minio/data/"], ["/a", "/a"])
bad("minio", "cross", "minio_policies", {"readonly": {"Statement": []}})
bad("minio", "cross", "minio_buckets", [{"name": "locked", "object_lock": True}])
bad("minio", "cross", "minio_users", [{"name": "app", "secret": "long-enough-secret", "policies": ["nope"]}])
bad("pgbouncer", "format", "pgbouncer_admin_user", "Admin", "pgb-admin")
bad("pgbouncer", "format", "pgbouncer_listen_address", *ADDRESSES)
bad("postgresql", "cross", "postgresql_patroni_loop_wait", "30", "11")
bad("postgresql", "range", "postgresql_patroni_ttl", "10", "19")
bad("postgresql", "range", "postgresql_etcd_leader_away_interval", "0", "4", "-30")
bad("postgresql", "cross", "postgresql_tls_key", "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----")
bad("postgresql", "format", "postgresql_version", "9", "seventeen")
bad("postgresql", "format", "postgresql_backup_repo_path", "relative/path", also={"postgresql_backup_enabled": True})
bad("prometheus", "format", "prometheus_retention_time", "forever", "30")
bad("prometheus", "format", "prometheus_scrape_timeout", "10")
bad("prometheus", "cross", "prometheus_web_tls_key_file", "/etc/prometheus/web.key", "/etc/ssl/private/prometheus.key")
bad("prometheus", "cross", "prometheus_web_tls_cert_file", "/etc/prometheus/web.crt")
bad("prometheus", "format", "prometheus_queue_limits", {"q": {"bogus": 1}}, {"q": 3})
bad("timescaledb", "format", "timescaledb_continuous_aggregates", [{"name": "agg", "query": "select 1"}],
    [{"name": "agg", "query": "select time_bucket('1 hour', t) from x", "refresh": {"start_offset": "soon"}}])
bad("vault", "cross", "vault_pki_mount", "secret", also={"vault_pki_enabled": True})
bad("vault", "format", "vault_kv_mounts", [{"path": "sys"}], [{"path": "bad path"}])
bad("vault", "cross", "vault_cluster_port", "8200")
bad("vault", "cross", "vault_init_password_file", "/nonexistent/groundwork-preflight/vault-init.vault")
bad("vault", "secret", "vault_userpass_users", [{"name": "u", "password": "short"}])
bad("vault", "format", "vault_approles", [{"name": "bad name"}])

# A string such as "a=b" passes argument_specs' `type: dict` (read as key=value pairs) and stays a
# string: each mapping variable has a check of its own in tasks/validate.yml.
bad("etcd", "type", "etcd_extra_settings", "a=b")
bad("kafka", "type", "kafka_server_properties", "a=b")
bad("kafka", "type", "kafka_topics", [{"name": "t", "partitions": 1, "replication_factor": 1, "configs": "a=b"}])
bad("minio", "type", "minio_extra_env", "a=b")
bad("minio", "format", "minio_conn_user_timeout", "5", "five seconds", "0s", "-5s")
bad("minio", "format", "minio_drive_max_timeout", "30", "0s", "1d")
bad("minio", "cross", "minio_conn_user_timeout", "30s", "1m")  # not shorter than minio_drive_max_timeout (30s)
bad("minio", "cross", "minio_extra_env", {"drive_max_timeout": "5s"}, {"CONN_USER_TIMEOUT": "2s"}, {"volumes": "/x"})
bad("minio", "type", "minio_policies", "a=b")
bad("node_exporter", "type", "node_exporter_basic_auth_users", "a=b")
bad("pgbouncer", "type", "pgbouncer_databases", "a=b")
bad("postgresql", "type", "postgresql_parameters", "a=b")
bad("redis", "type", "redis_config_overrides", "a=b")
bad("redis_sentinel", "type", "redis_sentinel_config_overrides", "a=b")
bad("vault", "type", "vault_policies", "a=b")
bad("duckdb", "type", "duckdb_databases", ["a=b"])
bad("timescaledb", "type", "timescaledb_continuous_aggregates",
    [{"name": "agg", "query": "select time_bucket('1 hour', t) from x", "refresh": "a=b"}])
# workload
bad("workload", "range", "workload_port", *PORTS)
bad("workload", "type", "workload_port", *NOT_AN_INT)
bad("workload", "format", "workload_listen_address", *ADDRESSES)
bad("workload", "secret", "workload_vault_secret_id", "", "short", "x" * 15)
bad("workload", "format", "workload_vault_urls", ["http://127.0.0.1:8200"], [], ["https://"])
bad("workload", "format", "workload_tls_ca_content", "", "not a certificate", "-----BEGIN PRIVATE KEY-----")
bad("workload", "format", "workload_kafka_bootstrap_servers", ["node1"], ["node1:x"], [])
bad("workload", "format", "workload_minio_endpoints", ["node1:9000"], ["ftp://node1:9000"], [])
bad("workload", "format", "workload_postgresql_table", "a;b", "Vehicle", "a.b.c")
bad("workload", "format", "workload_vault_secrets", {"postgresql_password": "no-field"}, {"redis_password": "a#b"}, "a=b")
bad("workload", "range", "workload_clip_part_bytes", "1000", "0", "5242879")
bad("workload", "cross", "workload_clip_bytes", "0", "67108865", "99999999999")

# argument_specs' `type: list` (elements dict) takes a string such as "a=b" too and leaves it a
# string; so do the mappings that had no mapping check: each has a check of its own.
bad("duckdb", "type", "duckdb_databases", "a=b")
bad("kafka", "type", "kafka_listeners", "a=b")
bad("vault", "type", "vault_pki_roles", "a=b", also={"vault_pki_enabled": True})
bad("vault", "type", "vault_pki_roles", "a=b")
bad("vault", "type", "vault_kv_mounts", "a=b")
bad("vault", "type", "vault_kv_mounts", "a=b", also={"vault_pki_enabled": True})
bad("vault", "type", "vault_approles", "a=b")
bad("vault", "type", "vault_userpass_users", "a=b")
bad("vault", "type", "vault_kv_generated", "a=b")
bad("prometheus", "type", "prometheus_queue_limits", "a=b")
bad("common", "type", "common_sysctl", "a=b")
bad("common", "type", "common_extra_sysctl", "a=b")

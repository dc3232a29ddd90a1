// kafka-consumer-lag-exporter: a small Prometheus exporter of Kafka consumer-group
// lag, written for groundwork.platform because the Go module proxy this project
// can reach refuses github.com/danielqsj/kafka_exporter. It exports the series the
// platform's queue rules use, with danielqsj/kafka_exporter's names and labels:
//
//	kafka_consumergroup_lag{consumergroup,topic,partition}
//	kafka_consumergroup_lag_sum{consumergroup,topic}
//	kafka_consumergroup_current_offset{consumergroup,topic,partition}
//	kafka_consumergroup_members{consumergroup}
//	kafka_topic_partition_current_offset{topic,partition}
//
// plus kafka_lag_exporter_up and kafka_lag_exporter_scrape_duration_seconds.
// Build: scripts/mirror/build.sh consumer_lag_exporter (pins: mirror/versions.yml).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/xdg-go/scram"
)

// version is set at build time: -ldflags "-X main.version=...".
var version = "dev"

var (
	descLag        = desc("kafka_consumergroup_lag", "Newest offset minus the group's committed offset, per partition.", "consumergroup", "topic", "partition")
	descLagSum     = desc("kafka_consumergroup_lag_sum", "Lag of the group summed over the topic's partitions.", "consumergroup", "topic")
	descCommitted  = desc("kafka_consumergroup_current_offset", "Offset the group has committed, per partition.", "consumergroup", "topic", "partition")
	descMembers    = desc("kafka_consumergroup_members", "Members of the consumer group.", "consumergroup")
	descNewest     = desc("kafka_topic_partition_current_offset", "Newest offset (log end offset) of the partition.", "topic", "partition")
	descUp         = desc("kafka_lag_exporter_up", "1 if the last collection from Kafka succeeded, 0 otherwise.")
	descScrapeTime = desc("kafka_lag_exporter_scrape_duration_seconds", "Duration of the last collection from Kafka.")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// lagCollector collects from Kafka at most once per minInterval, however often
// (and however many) Prometheus servers scrape it; the others get the cached result.
type lagCollector struct {
	brokers     []string
	cfg         *sarama.Config
	groupFilter *regexp.Regexp
	minInterval time.Duration

	mu       sync.Mutex
	client   sarama.Client // both connected lazily, so the exporter starts while Kafka is down
	admin    sarama.ClusterAdmin
	last     time.Time
	cached   []prometheus.Metric
	up       float64
	duration float64
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descLagSum, descCommitted, descMembers, descNewest, descUp, descScrapeTime} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() || time.Since(c.last) >= c.minInterval {
		t0 := time.Now()
		metrics, err := c.collect()
		c.last, c.duration = time.Now(), time.Since(t0).Seconds()
		if err != nil {
			// sarama's errors name brokers, topics and groups, never credentials.
			log.Printf("collection failed: %v", err)
			c.cached, c.up = nil, 0
			if c.admin != nil { // reconnect from the bootstrap list next time
				_ = c.admin.Close() // closes the client too
				c.client, c.admin = nil, nil
			}
		} else {
			c.cached, c.up = metrics, 1
		}
	}
	for _, m := range c.cached {
		ch <- m
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, c.up)
	ch <- prometheus.MustNewConstMetric(descScrapeTime, prometheus.GaugeValue, c.duration)
}

type topicPartition struct {
	topic     string
	partition int32
}

// collect reads everything from Kafka. Any error fails the whole collection
// (up 0, no Kafka series) rather than exporting a partial, misleading picture.
func (c *lagCollector) collect() ([]prometheus.Metric, error) {
	if c.admin == nil {
		client, err := sarama.NewClient(c.brokers, c.cfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", strings.Join(c.brokers, ","), err)
		}
		if c.admin, err = sarama.NewClusterAdminFromClient(client); err != nil {
			_ = client.Close()
			return nil, err
		}
		c.client = client
	}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}

	// 1. Partitions of every non-internal topic, from one metadata request.
	topics, err := c.admin.DescribeTopics(nil)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var partitions []topicPartition
	for _, t := range topics {
		if t.IsInternal || !errors.Is(t.Err, sarama.ErrNoError) {
			continue
		}
		for _, p := range t.Partitions {
			partitions = append(partitions, topicPartition{t.Name, p.ID})
		}
	}

	// 2. Consumer groups and their committed offsets, read before the newest
	// offsets so that lag is not negative when a commit lands in between.
	all, err := c.admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	var groups []string
	committed := map[string]map[topicPartition]int64{}
	for g, protocol := range all {
		// Share groups (KIP-932) have no committed offsets to compare with.
		if protocol == "share" || !c.groupFilter.MatchString(g) {
			continue
		}
		resp, err := c.admin.ListConsumerGroupOffsets(g, nil) // nil: all the group's partitions
		if err != nil {
			return nil, fmt.Errorf("offsets of group %s: %w", g, err)
		}
		blocks := resp.Blocks
		if resp.Version >= 8 { // v8+ answers per group
			blocks = nil
			if rg := resp.GetGroup(g); rg != nil {
				blocks = rg.Blocks
			}
		}
		groups, committed[g] = append(groups, g), map[topicPartition]int64{}
		for topic, ps := range blocks {
			for p, b := range ps {
				// -1: no committed offset on this partition (the group never committed
				// there, or the commit expired). Skipped rather than exported as -1, which
				// would show as a huge lag; the lag of such a partition is unknown.
				if errors.Is(b.Err, sarama.ErrNoError) && b.Offset >= 0 {
					committed[g][topicPartition{topic, p}] = b.Offset
				}
			}
		}
	}

	// 3. Newest offsets, one ListOffsets request per partition leader.
	newest, err := c.newestOffsets(partitions)
	if err != nil {
		return nil, err
	}
	for tp, off := range newest {
		gauge(descNewest, float64(off), tp.topic, strconv.Itoa(int(tp.partition)))
	}

	// 4. Lag per group and partition; its sum per group and topic.
	for g, offsets := range committed {
		sums := map[string]int64{}
		for tp, off := range offsets {
			p := strconv.Itoa(int(tp.partition))
			gauge(descCommitted, float64(off), g, tp.topic, p)
			end, ok := newest[tp]
			if !ok { // a deleted or internal topic: no newest offset to compare with
				continue
			}
			lag := max(end-off, 0) // negative only if the log was truncated below the commit
			sums[tp.topic] += lag
			gauge(descLag, float64(lag), g, tp.topic, p)
		}
		for topic, sum := range sums {
			gauge(descLagSum, float64(sum), g, topic)
		}
	}

	// 5. Members per group.
	if len(groups) > 0 {
		descs, err := c.admin.DescribeConsumerGroups(groups)
		if err != nil {
			return nil, fmt.Errorf("describing groups: %w", err)
		}
		for _, d := range descs {
			if n, ok := c.members(d); ok {
				gauge(descMembers, float64(n), d.GroupId)
			}
		}
	}
	return out, nil
}

// members counts a group's members. DescribeGroups describes classic groups;
// a group on the new consumer protocol (KIP-848, Kafka 4) answers there as
// an error or "Dead", and is asked again with ConsumerGroupDescribe.
func (c *lagCollector) members(d *sarama.GroupDescription) (int, bool) {
	if errors.Is(d.Err, sarama.ErrNoError) && d.State != "Dead" {
		return len(d.Members), true
	}
	if !c.cfg.Version.IsAtLeast(sarama.V4_0_0_0) {
		return 0, false
	}
	coordinator, err := c.admin.Coordinator(d.GroupId)
	if err != nil {
		return 0, false
	}
	req := sarama.NewConsumerGroupDescribeRequest(c.cfg.Version)
	req.GroupIDs = []string{d.GroupId}
	resp, err := coordinator.ConsumerGroupDescribe(req)
	if err != nil || len(resp.Groups) != 1 || !errors.Is(resp.Groups[0].ErrorCode, sarama.ErrNoError) {
		return 0, false // gone since it was listed, or neither kind: no members series
	}
	return len(resp.Groups[0].Members), true
}

// newestOffsets asks each partition's leader for the newest offsets of all
// the partitions it leads, in one ListOffsets request per broker.
func (c *lagCollector) newestOffsets(partitions []topicPartition) (map[topicPartition]int64, error) {
	byLeader := map[*sarama.Broker][]topicPartition{}
	newest := map[topicPartition]int64{}
	var retry []topicPartition
	for _, tp := range partitions {
		leader, err := c.client.Leader(tp.topic, tp.partition)
		if err != nil { // not in the client's cached metadata yet, or no leader now
			retry = append(retry, tp)
			continue
		}
		byLeader[leader] = append(byLeader[leader], tp)
	}
	for leader, tps := range byLeader {
		req := sarama.NewOffsetRequest(c.cfg.Version)
		for _, tp := range tps {
			req.AddBlock(tp.topic, tp.partition, sarama.OffsetNewest, 1)
		}
		resp, err := leader.GetAvailableOffsets(req)
		if err != nil {
			return nil, fmt.Errorf("newest offsets from broker %d (%s): %w", leader.ID(), leader.Addr(), err)
		}
		for _, tp := range tps {
			b := resp.GetBlock(tp.topic, tp.partition)
			if b != nil && errors.Is(b.Err, sarama.ErrNoError) && len(b.Offsets) == 1 {
				newest[tp] = b.Offsets[0]
			} else { // e.g. NOT_LEADER_OR_FOLLOWER after a leader change
				retry = append(retry, tp)
			}
		}
	}
	// Stragglers one by one: GetOffset refreshes the metadata and retries once.
	for _, tp := range retry {
		off, err := c.client.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("newest offset of %s/%d: %w", tp.topic, tp.partition, err)
		}
		newest[tp] = off
	}
	return newest, nil
}

// scramClient adapts xdg-go/scram to sarama's SCRAMClient interface.
type scramClient struct {
	*scram.ClientConversation
	hash scram.HashGeneratorFcn
}

func (s *scramClient) Begin(user, password, authzID string) error {
	c, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.ClientConversation = c.NewConversation()
	return nil
}

// listFlag collects a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	var servers listFlag
	flag.Var(&servers, "kafka.server", "Kafka bootstrap server host:port; repeatable or comma-separated (default localhost:9092)")
	kafkaVersion := flag.String("kafka.version", "4.0.0", "Kafka protocol version to speak (at least 2.1.0)")
	saslEnabled := flag.Bool("sasl.enabled", false, "authenticate with SASL/SCRAM")
	mechanism := flag.String("sasl.mechanism", "SCRAM-SHA-512", "SCRAM-SHA-512 or SCRAM-SHA-256")
	username := flag.String("sasl.username", "", "SASL user name")
	passwordFile := flag.String("sasl.password-file", "", "file holding the SASL password (never given on the command line)")
	tlsEnabled := flag.Bool("tls.enabled", false, "connect with TLS")
	caFile := flag.String("tls.ca-file", "", "PEM CA bundle to verify the brokers with (default: the system's)")
	listen := flag.String("web.listen-address", ":9308", "address to serve /metrics on")
	groupFilter := flag.String("group.filter", ".*", "regular expression the whole consumer-group name must match")
	minInterval := flag.Duration("scrape.min-interval", 5*time.Second, "scrapes within this interval of the last collection get its cached result")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Printf("kafka-consumer-lag-exporter %s\n", version)
		return
	}
	if len(servers) == 0 {
		servers = listFlag{"localhost:9092"}
	}
	filter, err := regexp.Compile("^(?:" + *groupFilter + ")$")
	if err != nil {
		log.Fatalf("--group.filter: %v", err)
	}

	cfg := sarama.NewConfig()
	cfg.ClientID = "kafka-consumer-lag-exporter"
	if cfg.Version, err = sarama.ParseKafkaVersion(*kafkaVersion); err != nil || !cfg.Version.IsAtLeast(sarama.V2_1_0_0) {
		log.Fatalf("--kafka.version %q: need a version of 2.1.0 or later", *kafkaVersion)
	}
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second
	if *saslEnabled {
		if *username == "" || *passwordFile == "" {
			log.Fatal("--sasl.enabled needs --sasl.username and --sasl.password-file")
		}
		pw, err := os.ReadFile(*passwordFile)
		if err != nil {
			log.Fatalf("--sasl.password-file: %v", err)
		}
		cfg.Net.SASL.Enable, cfg.Net.SASL.Handshake = true, true
		cfg.Net.SASL.User, cfg.Net.SASL.Password = *username, strings.TrimRight(string(pw), "\r\n")
		switch *mechanism {
		case sarama.SASLTypeSCRAMSHA512:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
		case sarama.SASLTypeSCRAMSHA256:
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
		default:
			log.Fatalf("--sasl.mechanism %q: use SCRAM-SHA-512 or SCRAM-SHA-256", *mechanism)
		}
		cfg.Net.SASL.Mechanism = sarama.SASLMechanism(*mechanism)
	}
	if *tlsEnabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				log.Fatalf("--tls.ca-file: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				log.Fatalf("--tls.ca-file %s: no PEM certificate in it", *caFile)
			}
		}
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, tc
	}
	if err := cfg.Validate(); err != nil {
		log.Fatalf("kafka client settings: %v", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&lagCollector{brokers: servers, cfg: cfg, groupFilter: filter, minInterval: *minInterval})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `<html><body>kafka-consumer-lag-exporter: <a href="/metrics">/metrics</a></body></html>`)
	})
	log.Printf("kafka-consumer-lag-exporter %s: Kafka %s, serving /metrics on %s", version, strings.Join(servers, ","), *listen)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

package main

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// testConfig: the exporter's defaults (Kafka 4.0 protocol), no ApiVersions
// handshake (the mock broker would need every API listed) and no retry delays.
func testConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ApiVersionsRequest = false
	cfg.Metadata.Retry.Max, cfg.Metadata.Retry.Backoff = 0, 10*time.Millisecond
	cfg.Admin.Retry.Max, cfg.Admin.Retry.Backoff = 0, 10*time.Millisecond
	cfg.Net.DialTimeout = time.Second
	return cfg
}

// mockCluster: one broker (id 1, also the controller and every group's
// coordinator) with topics orders (2 partitions), payments (1) and the internal
// __consumer_offsets, and these groups:
//
//	billing   classic, 2 members; commits orders/0 = 40, payments/0 = 10, nothing on orders/1
//	fresh     new consumer protocol (KIP-848), 3 members; commits orders/1 = 45
//	shared    a share group: no offsets, no series
//	ignored   commits orders/0 = 0; excluded by the group filter in the tests
//
// Newest offsets: orders/0 = 100, orders/1 = 50, payments/0 = 10.
func mockCluster(t *testing.T, offsetFetch *sarama.MockOffsetFetchResponse) *sarama.MockBroker {
	broker := sarama.NewMockBroker(t, 1)
	t.Cleanup(broker.Close)

	// A hand-built metadata response: MockMetadataResponse cannot mark a topic internal.
	md := &sarama.MetadataResponse{Version: sarama.NewMetadataRequest(testConfig().Version, nil).Version, ControllerID: 1}
	md.AddBroker(broker.Addr(), 1)
	for _, tp := range []topicPartition{{"orders", 0}, {"orders", 1}, {"payments", 0}, {"__consumer_offsets", 0}} {
		md.AddTopicPartition(tp.topic, tp.partition, 1, []int32{1}, []int32{1}, nil, sarama.ErrNoError)
	}
	md.AddTopic("__consumer_offsets", sarama.ErrNoError).IsInternal = true

	coordinators := sarama.NewMockFindCoordinatorResponse(t)
	for _, g := range []string{"billing", "fresh", "shared", "ignored"} {
		coordinators.SetCoordinator(sarama.CoordinatorGroup, g, broker)
	}
	if offsetFetch == nil {
		offsetFetch = sarama.NewMockOffsetFetchResponse(t).
			SetOffset("billing", "orders", 0, 40, "", sarama.ErrNoError).
			SetOffset("billing", "orders", 1, -1, "", sarama.ErrNoError).
			SetOffset("billing", "payments", 0, 10, "", sarama.ErrNoError).
			SetOffset("fresh", "orders", 1, 45, "", sarama.ErrNoError).
			SetOffset("ignored", "orders", 0, 0, "", sarama.ErrNoError)
	}
	broker.SetHandlerByMap(map[string]sarama.MockResponse{
		"MetadataRequest":        sarama.NewMockWrapper(md),
		"FindCoordinatorRequest": coordinators,
		"ListGroupsRequest": sarama.NewMockListGroupsResponse(t).
			AddGroup("billing", "consumer").AddGroup("fresh", "consumer").
			AddGroup("shared", "share").AddGroup("ignored", "consumer"),
		"OffsetFetchRequest": offsetFetch,
		// The offset request fails the test if it asks for __consumer_offsets.
		"OffsetRequest": sarama.NewMockOffsetResponse(t).
			SetOffset("orders", 0, sarama.OffsetNewest, 100).
			SetOffset("orders", 1, sarama.OffsetNewest, 50).
			SetOffset("payments", 0, sarama.OffsetNewest, 10),
		// Unknown groups (fresh) answer "Dead", as Kafka does for non-classic groups.
		"DescribeGroupsRequest": sarama.NewMockDescribeGroupsResponse(t).
			AddGroupDescription("billing", &sarama.GroupDescription{GroupId: "billing", State: "Stable", ProtocolType: "consumer",
				Members: map[string]*sarama.GroupMemberDescription{"m1": {MemberId: "m1"}, "m2": {MemberId: "m2"}}}),
		"ConsumerGroupDescribeRequest": sarama.NewMockConsumerGroupDescribeResponse(t).
			AddGroupDescription("fresh", sarama.ConsumerGroupDescription{GroupState: "Stable",
				Members: make([]sarama.ConsumerGroupMemberDescription, 3)}),
	})
	return broker
}

func newTestCollector(addr string, filter string, interval time.Duration) *lagCollector {
	return &lagCollector{brokers: []string{addr}, cfg: testConfig(),
		groupFilter: regexp.MustCompile("^(?:" + filter + ")$"), minInterval: interval}
}

// scrape gathers c through a pedantic registry (which also checks the
// descriptors) and returns `name{label="value",...}` -> value.
func scrape(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return got
}

func keys(m map[string]float64, prefix string) []string {
	var out []string
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestCollectExportsLag(t *testing.T) {
	broker := mockCluster(t, nil)
	got := scrape(t, newTestCollector(broker.Addr(), "billing|fresh|shared", 0))

	want := map[string]float64{
		`kafka_lag_exporter_up{}`: 1,
		// newest 100 - committed 40
		`kafka_consumergroup_lag{consumergroup="billing",partition="0",topic="orders"}`:              60,
		`kafka_consumergroup_lag{consumergroup="billing",partition="0",topic="payments"}`:            0,
		`kafka_consumergroup_lag{consumergroup="fresh",partition="1",topic="orders"}`:                5,
		`kafka_consumergroup_lag_sum{consumergroup="billing",topic="orders"}`:                        60,
		`kafka_consumergroup_lag_sum{consumergroup="billing",topic="payments"}`:                      0,
		`kafka_consumergroup_lag_sum{consumergroup="fresh",topic="orders"}`:                          5,
		`kafka_consumergroup_current_offset{consumergroup="billing",partition="0",topic="orders"}`:   40,
		`kafka_consumergroup_current_offset{consumergroup="billing",partition="0",topic="payments"}`: 10,
		`kafka_consumergroup_current_offset{consumergroup="fresh",partition="1",topic="orders"}`:     45,
		`kafka_consumergroup_members{consumergroup="billing"}`:                                       2,
		`kafka_consumergroup_members{consumergroup="fresh"}`:                                         3,
		`kafka_topic_partition_current_offset{partition="0",topic="orders"}`:                         100,
		`kafka_topic_partition_current_offset{partition="1",topic="orders"}`:                         50,
		`kafka_topic_partition_current_offset{partition="0",topic="payments"}`:                       10,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
	// Nothing else: no orders/1 for billing (no commit: skipped, not -1), no
	// internal topic, no share group, no filtered-out group.
	for _, prefix := range []string{"kafka_consumergroup", "kafka_topic"} {
		for _, k := range keys(got, prefix) {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected series %s = %v", k, got[k])
			}
		}
	}
	if _, ok := got[`kafka_lag_exporter_scrape_duration_seconds{}`]; !ok {
		t.Error("no kafka_lag_exporter_scrape_duration_seconds")
	}
}

func TestCollectCachesWithinMinInterval(t *testing.T) {
	broker := mockCluster(t, nil)
	c := newTestCollector(broker.Addr(), ".*", time.Hour)
	offsetRequests := func() (n int) {
		for _, rr := range broker.History() {
			if _, ok := rr.Request.(*sarama.OffsetRequest); ok {
				n++
			}
		}
		return n
	}
	first := scrape(t, c)
	n := offsetRequests()
	second := scrape(t, c)
	if offsetRequests() != n || n == 0 {
		t.Errorf("second scrape within the interval asked Kafka again (%d offset requests before, %d after)", n, offsetRequests())
	}
	if first[`kafka_consumergroup_lag{consumergroup="ignored",partition="0",topic="orders"}`] != 100 ||
		second[`kafka_consumergroup_lag{consumergroup="ignored",partition="0",topic="orders"}`] != 100 {
		t.Errorf("cached result differs: %v / %v", first, second)
	}
}

func TestUnreachableKafkaGivesUpZero(t *testing.T) {
	broker := sarama.NewMockBroker(t, 1)
	addr := broker.Addr()
	broker.Close() // nothing listens there any more
	got := scrape(t, newTestCollector(addr, ".*", 0))
	if got[`kafka_lag_exporter_up{}`] != 0 {
		t.Errorf("kafka_lag_exporter_up = %v, want 0", got[`kafka_lag_exporter_up{}`])
	}
	if k := keys(got, "kafka_consumergroup"); len(k) != 0 {
		t.Errorf("series exported with Kafka down: %v", k)
	}
}

func TestBrokerErrorGivesUpZero(t *testing.T) {
	broker := mockCluster(t, sarama.NewMockOffsetFetchResponse(t).SetError(sarama.ErrGroupAuthorizationFailed))
	c := newTestCollector(broker.Addr(), "billing", 0)
	got := scrape(t, c)
	if got[`kafka_lag_exporter_up{}`] != 0 {
		t.Errorf("kafka_lag_exporter_up = %v, want 0", got[`kafka_lag_exporter_up{}`])
	}
	if k := keys(got, "kafka_"); len(k) != 2 { // only up and scrape_duration_seconds
		t.Errorf("want only the exporter's own series after a failure, got %v", k)
	}
	if c.admin != nil {
		t.Error("the failed connection was kept; it should be rebuilt on the next scrape")
	}
}

func TestListFlag(t *testing.T) {
	var l listFlag
	for _, v := range []string{"a:9092,b:9092", " c:9092 ", ""} {
		if err := l.Set(v); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.String(); got != "a:9092,b:9092,c:9092" {
		t.Errorf("listFlag = %q", got)
	}
}

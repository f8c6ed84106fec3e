package awsfirehose

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/flow-telemetry/flow/components/common/aws"
)

// checkConfig is what the delivery stream check needs.
type checkConfig struct {
	stream   string
	region   string
	endpoint string
	creds    *aws.StaticCredentials
	interval time.Duration
}

// streamChecker checks that the delivery stream exists and is ACTIVE, at
// start, every interval, and right after its stream, region or endpoint
// changes. New credentials alone are used from the next check.
type streamChecker struct {
	log     *slog.Logger
	trigger chan struct{}

	mu        sync.Mutex
	cfg       checkConfig
	enabled   bool
	status    string // DeliveryStreamStatus, or "" before the first check
	err       error
	checkedAt time.Time
}

func newStreamChecker(log *slog.Logger) *streamChecker {
	return &streamChecker{log: log, trigger: make(chan struct{}, 1)}
}

func (s *streamChecker) configure(a Arguments) {
	cfg := checkConfig{stream: a.DeliveryStreamName, region: a.Region, endpoint: a.Endpoint, creds: a.Credentials, interval: a.CheckInterval}
	s.mu.Lock()
	changed := cfg.stream != s.cfg.stream || cfg.region != s.cfg.region || cfg.endpoint != s.cfg.endpoint
	// New credentials after a failed check (say, expired ones) are tried at
	// once rather than after the interval.
	retry := s.err != nil && !reflect.DeepEqual(cfg.creds, s.cfg.creds)
	s.cfg, s.enabled = cfg, cfg.stream != ""
	if changed {
		s.status, s.err, s.checkedAt = "", nil, time.Time{}
	}
	s.mu.Unlock()
	if changed || retry {
		select {
		case s.trigger <- struct{}{}:
		default:
		}
	}
}

func (s *streamChecker) run(ctx context.Context) {
	for {
		s.mu.Lock()
		enabled, interval := s.enabled, s.cfg.interval
		s.mu.Unlock()
		if enabled {
			s.checkOnce(ctx)
		}
		if interval <= 0 {
			interval = 5 * time.Minute
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.trigger:
			t.Stop()
		case <-t.C:
		}
	}
}

func (s *streamChecker) checkOnce(ctx context.Context) {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	status, err := describe(ctx, cfg)
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.stream != cfg.stream || s.cfg.region != cfg.region || s.cfg.endpoint != cfg.endpoint {
		return // reconfigured meanwhile; the new config is checked next
	}
	if err == nil && status != string(types.DeliveryStreamStatusActive) {
		err = fmt.Errorf("delivery stream %q in %s is %s, not ACTIVE: Firehose will not deliver until it is", cfg.stream, cfg.region, status)
	}
	if err != nil && (s.err == nil || s.err.Error() != err.Error()) {
		s.log.Warn("Firehose delivery stream check failed", "stream", cfg.stream, "region", cfg.region, "err", err)
	}
	s.status, s.err, s.checkedAt = status, err, time.Now()
}

// describe calls firehose:DescribeDeliveryStream, signed with the
// configured credentials (or the default chain without them).
func describe(ctx context.Context, cfg checkConfig) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var secrets []string
	if cfg.creds != nil {
		secrets = append(secrets, string(cfg.creds.SecretAccessKey), string(cfg.creds.Token))
	}
	op := fmt.Sprintf("checking Firehose delivery stream %q in %s (firehose:DescribeDeliveryStream)", cfg.stream, cfg.region)
	awsCfg, err := aws.LoadConfig(ctx, aws.CredentialsArgs{Region: cfg.region, Static: cfg.creds})
	if err != nil {
		return "", aws.ExplainError(op, err, secrets...)
	}
	client := firehose.NewFromConfig(awsCfg, func(o *firehose.Options) {
		if cfg.endpoint != "" {
			o.BaseEndpoint = awssdk.String(cfg.endpoint)
		}
		o.RetryMaxAttempts = 2
	})
	out, err := client.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: awssdk.String(cfg.stream)})
	if err != nil {
		return "", aws.ExplainError(op, err, secrets...)
	}
	if out.DeliveryStreamDescription == nil {
		return "", fmt.Errorf("%s: the answer has no DeliveryStreamDescription", op)
	}
	return string(out.DeliveryStreamDescription.DeliveryStreamStatus), nil
}

// checkStatus is the check's result for health and debug info.
type checkStatus struct {
	enabled   bool
	stream    string
	status    string
	err       error
	checkedAt time.Time
}

func (s *streamChecker) snapshot() checkStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return checkStatus{enabled: s.enabled, stream: s.cfg.stream, status: s.status, err: s.err, checkedAt: s.checkedAt}
}

package ratelimit

import (
	"context"
	"strconv"
	"testing"
	"time"
)

func TestLocalBucket(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := NewLocal(func() time.Time { return now })
	lim := Limit{PerSecond: 2, Burst: 3}
	for i, want := range []Result{
		{Allowed: true, Remaining: 2, Reset: 500 * time.Millisecond},
		{Allowed: true, Remaining: 1, Reset: time.Second},
		{Allowed: true, Remaining: 0, Reset: 1500 * time.Millisecond},
		{Allowed: false, Remaining: 0, Reset: 1500 * time.Millisecond, RetryAfter: 500 * time.Millisecond},
	} {
		if got := l.Take(context.Background(), "k", lim); got != want {
			t.Fatalf("take %d: %+v, want %+v", i+1, got, want)
		}
	}
	now = now.Add(500 * time.Millisecond)
	if got := l.Take(context.Background(), "k", lim); !got.Allowed || got.Remaining != 0 {
		t.Fatalf("after one refill: %+v", got)
	}
	if got := l.Take(context.Background(), "other", lim); !got.Allowed || got.Remaining != 2 {
		t.Fatalf("another key shares the bucket: %+v", got)
	}
}

// BenchmarkLocalTake is the limiter's cost per request, over many keys.
func BenchmarkLocalTake(b *testing.B) {
	l := NewLocal(nil)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	lim := Limit{PerSecond: 1e6, Burst: 1e6}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Take(context.Background(), keys[i%len(keys)], lim)
			i++
		}
	})
}

package store

import (
	"context"
	"sync"
	"time"

	"gorm.io/gorm"
)

// maxBatch bounds one group-commit transaction.
const maxBatch = 512

// maxLinger bounds how long a batch waits for the writers of the previous
// one; well under the cost of the commit (an fsync, about 1 ms) it saves.
const maxLinger = time.Millisecond

// batcher implements group commit for creates: one goroutine takes every
// create waiting at that moment and commits them in a single transaction, so
// one fsync acknowledges many requests. With synchronous=FULL a commit costs
// about a millisecond; batching is what lets creates scale past ~1,000/s
// without weakening durability.
type batcher struct {
	db   *DB
	reqs chan *createReq
	wg   sync.WaitGroup
	once sync.Once
	done chan struct{}
}

type createReq struct {
	ctx  context.Context
	row  groupRow
	err  error
	done chan struct{}
}

func newBatcher(db *DB) *batcher {
	b := &batcher{db: db, reqs: make(chan *createReq, maxBatch), done: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

func (b *batcher) submit(ctx context.Context, row groupRow) (Group, error) {
	r := &createReq{ctx: ctx, row: row, done: make(chan struct{})}
	select {
	case b.reqs <- r:
	case <-b.done:
		return Group{}, ErrUnavailable
	case <-ctx.Done():
		return Group{}, ctx.Err()
	}
	// Once queued the request is always answered: the loop may already be
	// committing it, so leaving early could hide an acknowledged write.
	<-r.done
	if r.err != nil {
		return Group{}, r.err
	}
	return r.row.group(), nil
}

func (b *batcher) loop() {
	defer b.wg.Done()
	batch := make([]*createReq, 0, maxBatch)
	prev := 1
	for {
		var first *createReq
		select {
		case first = <-b.reqs:
		case <-b.done:
			// Drain what was queued before close, then stop.
			for {
				select {
				case r := <-b.reqs:
					b.commit([]*createReq{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
		// Under load the clients of the last batch come back together, a
		// moment after it committed: wait briefly (at most maxLinger) until
		// as many are queued as last time, so one fsync serves them all
		// instead of a trickle of small batches. A lone writer (last batch
		// of one) never waits.
		want := min(prev, maxBatch)
		var linger *time.Timer
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			if len(batch) >= want {
				break
			}
			if linger == nil {
				linger = time.NewTimer(maxLinger)
			}
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			case <-linger.C:
				break fill
			case <-b.done:
				break fill
			}
		}
		if linger != nil {
			linger.Stop()
		}
		prev = len(batch)
		b.commit(batch)
	}
}

// commit inserts the live requests of batch in one transaction. A name
// conflict fails only its own request; a failed commit fails them all.
func (b *batcher) commit(batch []*createReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The commit is shared, so no one request's cancellation may abort it,
	// but it must not outlive every request waiting on it: an unreachable
	// database would otherwise hold them all past their deadlines.
	limit := time.Now().Add(30 * time.Second)
	var latest time.Time
	for _, r := range live {
		d, ok := r.ctx.Deadline()
		if !ok || d.After(limit) {
			latest = limit
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), latest)
	defer cancel()
	err := withRetry(ctx, func() error {
		return b.db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			rows := make([]groupRow, len(live))
			for i, r := range live {
				rows[i] = r.row
				r.err = nil // of an attempt that was rolled back
			}
			ok, err := b.db.insertRows(tx, rows)
			if err != nil {
				return err
			}
			counts := map[string]int64{}
			for i, r := range live {
				if ok[i] {
					counts[r.row.Org]++
				} else {
					r.err = &NameTakenError{Name: r.row.Name}
				}
			}
			for org, n := range counts {
				if err := addCount(tx, org, n); err != nil {
					return err
				}
			}
			return nil
		})
	})
	for _, r := range live {
		if err != nil {
			r.err = translate(err)
		}
		close(r.done)
	}
}

func (b *batcher) close() {
	b.once.Do(func() { close(b.done) })
	b.wg.Wait()
}

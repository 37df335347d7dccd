package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"gorm.io/gorm"
)

// maxBatch bounds one group-commit transaction.
const maxBatch = 512

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
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := b.db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		counts := map[string]int64{}
		for _, r := range live {
			r.err = insertRow(tx, r.row)
			if r.err == nil {
				counts[r.row.Org]++
			} else if !errors.Is(r.err, ErrNameTaken) {
				return r.err
			}
		}
		for org, n := range counts {
			if err := addCount(tx, org, n); err != nil {
				return err
			}
		}
		return nil
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

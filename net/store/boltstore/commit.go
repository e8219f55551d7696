package boltstore

import (
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// committer runs the store's batched writes: one goroutine takes every
// write queued while the previous commit ran and commits them in one
// transaction with one fsync. A batch is as large as the load makes it,
// with no timer: a lone write commits at once, and under load a batch
// holds everything that arrived during the commit before.
//
// bbolt's DB.Batch does the same sharing but sizes batches by a timer:
// calls that arrive while a batch commits start a new batch, which
// commits MaxBatchDelay later whether or not the writer is free. At a
// relay's load that gives many small commits, and each costs its pages
// and two fsyncs (see the package doc for the measured difference).
type committer struct {
	db       *bolt.DB
	maxBatch int           // calls per transaction
	delay    time.Duration // wait for company before a commit, if > 0

	mu    sync.Mutex
	queue []*writeCall
	kick  chan struct{} // buffered 1: the queue is not empty
	stop  chan struct{}
	done  chan struct{}
}

// writeCall is one queued write; done gets a value once err is set.
type writeCall struct {
	fn   func(*bolt.Tx) error
	err  error
	done chan struct{}
}

var writeCalls = sync.Pool{New: func() any { return &writeCall{done: make(chan struct{}, 1)} }}

func newCommitter(db *bolt.DB, maxBatch int, delay time.Duration) *committer {
	if maxBatch <= 0 {
		maxBatch = DefaultMaxBatchSize
	}
	c := &committer{
		db:       db,
		maxBatch: maxBatch,
		delay:    delay,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.loop()
	return c
}

// write runs fn in a shared write transaction and returns once that
// transaction is committed (fsynced) or has failed. As with DB.Batch, fn
// may run more than once and must set its results afresh each time, and
// an error from fn rolls back only fn's own changes.
func (c *committer) write(fn func(*bolt.Tx) error) error {
	w := writeCalls.Get().(*writeCall)
	w.fn = fn
	c.mu.Lock()
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	<-w.done
	err := w.err
	w.fn, w.err = nil, nil
	writeCalls.Put(w)
	return err
}

// close stops the loop. The caller makes sure no write is in flight.
func (c *committer) close() {
	close(c.stop)
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	var calls []*writeCall
	for {
		select {
		case <-c.kick:
		case <-c.stop:
			return
		}
		if c.delay > 0 {
			time.Sleep(c.delay)
		}
		for {
			c.mu.Lock()
			calls, c.queue = c.queue, calls[:0]
			c.mu.Unlock()
			if len(calls) == 0 {
				break
			}
			for rest := calls; len(rest) > 0; {
				n := min(len(rest), c.maxBatch)
				c.commit(rest[:n])
				rest = rest[n:]
			}
			clear(calls) // let the pool's calls go
			calls = calls[:0]
		}
	}
}

// commit runs calls in one transaction. If one fails, it alone gets its
// error (from a transaction of its own, so that another call's changes
// cannot be the cause) and the others are run again without it.
func (c *committer) commit(calls []*writeCall) {
	for len(calls) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, w := range calls {
				if err := safeCall(w.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, w := range calls {
				w.err = err
				w.done <- struct{}{}
			}
			return
		}
		w := calls[failed]
		w.err = c.db.Update(func(tx *bolt.Tx) error { return safeCall(w.fn, tx) })
		w.done <- struct{}{}
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// safeCall turns a panic in fn into an error, as DB.Batch does, so one
// bad call cannot stop the loop every write waits on.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(tx)
}

package messenger

import (
	"github.com/ephemera-im/ephemera/storage/vault"
)

// A job is a piece of work for the vault's writer. The writer runs every
// job that is waiting in one transaction (group commit across kinds of
// work: messages being sent, batches received, sent messages to mark),
// because each commit costs two disk flushes whatever it holds.
type job struct {
	// run does the job's writes; an error aborts the whole transaction,
	// every job in it included. It runs with m.mu held.
	run func(t *vault.Tx) error
	// committed, if set, runs with m.mu held after the commit.
	committed func()
	// after, if set, runs after the transaction, without m.mu, with its
	// outcome.
	after func(err error)
}

// maxJobs bounds the jobs in one transaction.
const maxJobs = 128

// writeLoop runs jobs until the messenger closes.
func (m *Messenger) writeLoop() {
	defer m.wg.Done()
	for {
		var jobs []*job
		select {
		case <-m.ctx.Done():
			return
		case j := <-m.jobs:
			jobs = append(jobs, j)
		}
	drain:
		for len(jobs) < maxJobs {
			select {
			case j := <-m.jobs:
				jobs = append(jobs, j)
			default:
				break drain
			}
		}
		m.mu.Lock()
		err := m.update(func(t *vault.Tx) error {
			for _, j := range jobs {
				if err := j.run(t); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, j := range jobs {
				if j.committed != nil {
					j.committed()
				}
			}
		}
		m.mu.Unlock()
		for _, j := range jobs {
			if j.after != nil {
				j.after(err)
			}
		}
	}
}

// submit hands a job to the writer and waits for its outcome.
func (m *Messenger) submit(j *job) error {
	done := make(chan error, 1)
	after := j.after
	j.after = func(err error) {
		if after != nil {
			after(err)
		}
		done <- err
	}
	select {
	case m.jobs <- j:
	case <-m.ctx.Done():
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-m.ctx.Done():
		return ErrClosed
	}
}

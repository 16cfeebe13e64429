package client

// retryQueue holds the connections waiting to reconnect, earliest retry
// first: a min-heap of indices into conns, keyed by conn.started. A FIFO
// would serve them in the order they failed, each waiting behind the
// jittered times of all before it, which undoes the jitter: after a server
// restart the retries would leave in clumps instead of spread out.
//
// An index's started must not change while it is queued.
type retryQueue struct{ idx []int32 }

func (q *retryQueue) len() int { return len(q.idx) }

// next returns the earliest queued connection; the queue must not be empty.
func (q *retryQueue) next() int32 { return q.idx[0] }

func (q *retryQueue) push(conns []conn, k int32) {
	q.idx = append(q.idx, k)
	for i := len(q.idx) - 1; i > 0; {
		parent := (i - 1) / 2
		if conns[q.idx[parent]].started <= conns[q.idx[i]].started {
			break
		}
		q.idx[parent], q.idx[i] = q.idx[i], q.idx[parent]
		i = parent
	}
}

// pop removes and returns the earliest queued connection.
func (q *retryQueue) pop(conns []conn) int32 {
	k := q.idx[0]
	last := len(q.idx) - 1
	q.idx[0] = q.idx[last]
	q.idx = q.idx[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < last && conns[q.idx[l]].started < conns[q.idx[small]].started {
			small = l
		}
		if r < last && conns[q.idx[r]].started < conns[q.idx[small]].started {
			small = r
		}
		if small == i {
			break
		}
		q.idx[i], q.idx[small] = q.idx[small], q.idx[i]
		i = small
	}
	return k
}

func (q *retryQueue) clear() { q.idx = nil }

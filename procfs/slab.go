package procfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Slab is one cache line of /proc/slabinfo (format version 2.x).
type Slab struct {
	Name         string
	ActiveObjs   uint64
	NumObjs      uint64
	ObjSize      uint64 // bytes per object, including the allocator's padding
	ObjPerSlab   uint64
	PagesPerSlab uint64
	ActiveSlabs  uint64 // 0 when the line has no "slabdata" section
	NumSlabs     uint64 // 0 when the line has no "slabdata" section
}

// Bytes is the memory the cache holds: NumSlabs × PagesPerSlab × page size,
// which counts the free objects and the slack at the end of each slab. When
// the line had no slab counts it falls back to NumObjs × ObjSize.
func (s Slab) Bytes() uint64 {
	if s.NumSlabs > 0 {
		return s.NumSlabs * s.PagesPerSlab * pageSize
	}
	return s.NumObjs * s.ObjSize
}

// SocketCaches are the slab caches that grow with open TCP connections:
// the socket itself, its inode, dentry and file, the epoll registration,
// skbs of data in flight, TIME_WAIT and SYN_RECV minisocks. A name ending in
// "*" is a prefix that SlabBytes sums (all kmalloc-* caches, which hold skb
// data). With slab merging a cache may be folded into another and missing
// from slabinfo; SlabBytes reports it as 0.
var SocketCaches = []string{
	"TCP", "TCPv6", "request_sock_TCP", "tw_sock_TCP",
	"sock_inode_cache", "dentry", "filp",
	"eventpoll_epi", "eventpoll_pwq",
	"skbuff_head_cache", "skbuff_fclone_cache", "skbuff_small_head",
	"kmalloc-*",
}

// SlabBytes returns Bytes() for each of names (e.g. SocketCaches), keyed by
// the name as given, so every key is present even when the cache is not: CSV
// columns stay stable. A name ending in "*" sums every cache with that prefix.
func SlabBytes(slabs []Slab, names []string) map[string]uint64 {
	sums := make(map[string]uint64, len(names))
	for _, name := range names {
		prefix, isPrefix := strings.CutSuffix(name, "*")
		sums[name] = 0
		for _, s := range slabs {
			if s.Name == name || isPrefix && strings.HasPrefix(s.Name, prefix) {
				sums[name] += s.Bytes()
			}
		}
	}
	return sums
}

// Slabinfo parses /proc/slabinfo, which only root may read; see
// SlabObjectSize for an unprivileged fallback.
func (fs FS) Slabinfo() ([]Slab, error) {
	text, err := readText(fs.path("proc", "slabinfo"))
	if err != nil {
		return nil, err
	}
	return parseSlabinfo(text)
}

// parseSlabinfo reads lines of the form
//
//	name active_objs num_objs objsize objperslab pagesperslab : tunables l b s : slabdata active_slabs num_slabs sharedavail
//
// after the "slabinfo - version: 2.1" line and the "# name ..." header.
func parseSlabinfo(text string) ([]Slab, error) {
	var slabs []Slab
	for line := range strings.Lines(text) {
		if version, ok := strings.CutPrefix(line, "slabinfo - version:"); ok {
			if v := strings.TrimSpace(version); !strings.HasPrefix(v, "2.") {
				return nil, fmt.Errorf("procfs: slabinfo version %q not supported (want 2.x)", v)
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		s, err := parseSlabLine(fields)
		if err != nil {
			return nil, fmt.Errorf("procfs: slabinfo line %q: %w", strings.TrimSpace(line), err)
		}
		slabs = append(slabs, s)
	}
	if len(slabs) == 0 {
		return nil, errors.New("procfs: slabinfo: no caches")
	}
	return slabs, nil
}

func parseSlabLine(fields []string) (Slab, error) {
	if len(fields) < 6 {
		return Slab{}, errors.New("fewer than 6 fields")
	}
	var n [5]uint64
	for i := range n {
		var err error
		if n[i], err = strconv.ParseUint(fields[i+1], 10, 64); err != nil {
			return Slab{}, err
		}
	}
	s := Slab{Name: fields[0], ActiveObjs: n[0], NumObjs: n[1], ObjSize: n[2], ObjPerSlab: n[3], PagesPerSlab: n[4]}
	for i, f := range fields {
		if f == "slabdata" && i+2 < len(fields) {
			var err1, err2 error
			s.ActiveSlabs, err1 = strconv.ParseUint(fields[i+1], 10, 64)
			s.NumSlabs, err2 = strconv.ParseUint(fields[i+2], 10, 64)
			if err := errors.Join(err1, err2); err != nil {
				return Slab{}, err
			}
		}
	}
	return s, nil
}

// SlabObjectSize reads /sys/kernel/slab/CACHE/object_size: the size the
// kernel asked for, without padding (TCP: 2304 here against slabinfo's
// 2368). Readable without root, unlike /proc/slabinfo.
func (fs FS) SlabObjectSize(cache string) (int, error) {
	text, err := readText(fs.path("sys", "kernel", "slab", cache, "object_size"))
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil {
		return 0, fmt.Errorf("procfs: object_size of slab %s: %w", cache, err)
	}
	return n, nil
}

package vector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// File format, version 1, little-endian:
//
//	header  magic "BWVECIDX", u32 version, u32 dim, u32 M, u32 efConstruction,
//	        u32 n (nodes), u32 entry, i32 top, u64 watermark
//	node×n  u64 key, f32 scale, u8 level, u8 dead, dim×i8 code,
//	        then for each level 0..level: u32 count, count×u32 neighbour ids
//	trailer u32 CRC-32C of every byte before it
//
// Dead nodes are kept so that the graph is restored exactly as it was. A
// reader checks every count and id against the header while it reads, so
// a damaged file fails with ErrCorrupt (never a panic or a huge
// allocation), and checks the CRC at the end.
const (
	fileMagic   = "BWVECIDX"
	fileVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteTo writes the whole index (Store contents, graph and watermark) to
// w. Writers wait while it runs; searches do not.
func (ix *Index) WriteTo(w io.Writer) (int64, error) {
	ix.writes.Lock()
	defer ix.writes.Unlock()
	g := ix.g.Load()
	h := crc32.New(castagnoli)
	cw := &countWriter{w: bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)}
	g.mu.RLock()
	n, entry, top, wm := g.n, g.entry, g.top, g.watermark
	g.mu.RUnlock()
	var b []byte
	b = append(b, fileMagic...)
	for _, x := range []uint32{fileVersion, uint32(g.dim), uint32(g.m), uint32(g.efc), n, entry, uint32(int32(top))} {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	b = binary.LittleEndian.AppendUint64(b, wm)
	cw.write(b)
	for id := range n {
		c, off := g.chunk(id)
		b = b[:0]
		b = binary.LittleEndian.AppendUint64(b, c.keys[off])
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(c.scales[off]))
		b = append(b, c.levels[off], boolByte(c.dead[off].Load()))
		for _, x := range c.codes[off*g.dim : (off+1)*g.dim] {
			b = append(b, byte(x))
		}
		mu := &g.locks[id%stripes]
		mu.Lock()
		for l := 0; l <= int(c.levels[off]); l++ {
			ls := g.list(id, l)
			for _, x := range ls[:1+ls[0]] {
				b = binary.LittleEndian.AppendUint32(b, x)
			}
		}
		mu.Unlock()
		cw.write(b)
	}
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	if cw.err != nil {
		return cw.n, fmt.Errorf("write vector index: %w", cw.err)
	}
	sum := binary.LittleEndian.AppendUint32(nil, h.Sum32())
	k, err := w.Write(sum)
	if err != nil {
		return cw.n + int64(k), fmt.Errorf("write vector index: %w", err)
	}
	return cw.n + int64(k), nil
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) write(b []byte) {
	if c.err != nil {
		return
	}
	k, err := c.w.Write(b)
	c.n += int64(k)
	c.err = err
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// Save writes the index to path atomically: to a temporary file in the
// same directory, synced, then renamed over path, and the directory
// synced. A crash leaves either the old file or the new one.
func (ix *Index) Save(path string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save vector index: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = ix.WriteTo(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("save vector index: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("save vector index: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("save vector index: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Load reads an index saved by Save. The structural options (M,
// EfConstruction) come from the file; the others from opts. An error
// wrapping ErrCorrupt means the file is damaged and the owner should
// rebuild the index from its source of truth.
func Load(path string, opts Options) (*Index, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load vector index: %w", err)
	}
	defer f.Close()
	return Read(f, opts)
}

// Read reads an index written by WriteTo; see Load.
func Read(r io.Reader, opts Options) (*Index, error) {
	ix, err := read(r, opts)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: truncated", ErrCorrupt)
		}
		return nil, fmt.Errorf("read vector index: %w", err)
	}
	return ix, nil
}

// crcReader reads fixed-size fields and hashes all it reads.
type crcReader struct {
	r   *bufio.Reader
	h   hash.Hash32
	buf [64]byte
}

func (cr *crcReader) full(b []byte) error {
	if _, err := io.ReadFull(cr.r, b); err != nil {
		return err
	}
	cr.h.Write(b)
	return nil
}

func (cr *crcReader) u32() (uint32, error) {
	b := cr.buf[:4]
	if err := cr.full(b); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func corrupt(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
}

func read(r io.Reader, opts Options) (*Index, error) {
	cr := &crcReader{r: bufio.NewReaderSize(r, 1<<20), h: crc32.New(castagnoli)}
	hdr := make([]byte, 8+7*4+8)
	if err := cr.full(hdr); err != nil {
		return nil, err
	}
	if string(hdr[:8]) != fileMagic {
		return nil, corrupt("bad magic")
	}
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(hdr[8+4*i:]) }
	version, dim, m, efc, n, entry, top := u(0), int(u(1)), int(u(2)), int(u(3)), u(4), u(5), int(int32(u(6)))
	wm := binary.LittleEndian.Uint64(hdr[8+7*4:])
	switch {
	case version != fileVersion:
		return nil, corrupt("version %d, want %d", version, fileVersion)
	case dim <= 0 || dim > maxDim, m < 2 || m > 128, efc <= 0:
		return nil, corrupt("bad parameters dim=%d M=%d ef=%d", dim, m, efc)
	case n > maxNodes, n > 0 && (entry >= n || top < 0 || top > maxLevel), n == 0 && top != -1:
		return nil, corrupt("bad header n=%d entry=%d top=%d", n, entry, top)
	}
	opts.M, opts.EfConstruction = m, efc
	ix := New(dim, opts)
	g := ix.g.Load()
	g.n, g.entry, g.top, g.watermark = 0, entry, top, wm
	code := make([]byte, dim)
	for id := range n {
		// The node is read before its chunk is allocated, so a short file
		// cannot make Read allocate much more than it has read.
		b := cr.buf[:14]
		if err := cr.full(b); err != nil {
			return nil, err
		}
		key := binary.LittleEndian.Uint64(b)
		scale := math.Float32frombits(binary.LittleEndian.Uint32(b[8:]))
		level, dead := int(b[12]), b[13]
		if level > maxLevel || dead > 1 || !(scale > 0) || math.IsInf(float64(scale), 0) {
			return nil, corrupt("node %d: bad level, flag or scale", id)
		}
		if err := cr.full(code); err != nil {
			return nil, err
		}
		if id&chunkMask == 0 {
			g.grow()
		}
		c, off := g.chunk(id)
		for i, x := range code {
			c.codes[off*dim+i] = int8(x)
		}
		c.keys[off], c.scales[off], c.levels[off] = key, scale, uint8(level)
		if level > 0 {
			c.upper[off] = make([]uint32, level*(m+1))
		}
		for l := 0; l <= level; l++ {
			ls := g.list(id, l)
			cnt, err := cr.u32()
			if err != nil {
				return nil, err
			}
			if int(cnt) > len(ls)-1 {
				return nil, corrupt("node %d: %d links at level %d", id, cnt, l)
			}
			ls[0] = cnt
			for i := range int(cnt) {
				x, err := cr.u32()
				if err != nil {
					return nil, err
				}
				if x >= n {
					return nil, corrupt("node %d: link to %d of %d", id, x, n)
				}
				ls[1+i] = x
			}
		}
		if dead == 1 {
			c.dead[off].Store(true)
			g.deleted++
		} else {
			if _, dup := g.keys[key]; dup {
				return nil, corrupt("key %d stored twice", key)
			}
			g.keys[key] = id
		}
		g.n++
	}
	if n > 0 && int(g.levels(entry)) != top {
		return nil, corrupt("entry %d is not on level %d", entry, top)
	}
	if err := g.checkLevels(); err != nil {
		return nil, err
	}
	sum := cr.h.Sum32()
	b := cr.buf[:4]
	if _, err := io.ReadFull(cr.r, b); err != nil {
		return nil, err
	}
	if binary.LittleEndian.Uint32(b) != sum {
		return nil, corrupt("checksum mismatch")
	}
	return ix, nil
}

// checkLevels verifies that every link at level l leads to a node that
// has level l, so that a search never indexes past a node's lists.
func (g *graph) checkLevels() error {
	for id := range g.n {
		for l := 1; l <= int(g.levels(id)); l++ {
			ls := g.list(id, l)
			for _, x := range ls[1 : 1+ls[0]] {
				if int(g.levels(x)) < l {
					return corrupt("node %d: link to %d at level %d", id, x, l)
				}
			}
		}
	}
	return nil
}

func (g *graph) levels(id uint32) uint8 {
	c, off := g.chunk(id)
	return c.levels[off]
}

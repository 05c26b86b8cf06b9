package eval

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// The solver is a trust-region Newton method with conjugate-gradient steps (Lin, Weng & Keerthi,
// "Trust region Newton method for large-scale logistic regression", JMLR 2008; LIBLINEAR's TRON):
// each CG step costs one pass over the rows and one over the columns, and no dense Hessian is
// ever formed, so memory is a few vectors of the vocabulary's size.

// logisticProblem is f(w) = C·Σ log(1 + exp(−yᵢ·zᵢ)) + ½‖w[:dim]‖², z = X·w[:dim] + w[dim].
type logisticProblem struct {
	x       *csr
	y       []float64 // ±1
	c       float64
	dim     int
	z       []float64 // X·w + b at the last fun call
	d       []float64 // σ(yz)(1 − σ(yz)) at the last grad call
	u       []float64 // per-row scratch
	scratch []float64 // the second half's column sums in mulTrans
}

// halves works on the blocks in two fixed groups concurrently; fixed, so the sums (and the
// fitted weights) are the same whatever the number of cores.
func (p *logisticProblem) halves(f func(part int, blocks []csrBlock)) {
	blocks := p.x.blocks
	mid := len(blocks) / 2
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f(1, blocks[mid:]) }()
	f(0, blocks[:mid])
	wg.Wait()
}

// mul sets out = X·w[:dim] + w[dim].
func (p *logisticProblem) mul(out, w []float64) {
	b := w[p.dim]
	p.halves(func(_ int, blocks []csrBlock) {
		for _, blk := range blocks {
			for r := range len(blk.ptr) - 1 {
				s := b
				for k := blk.ptr[r]; k < blk.ptr[r+1]; k++ {
					s += float64(blk.val[k]) * w[blk.idx[k]]
				}
				out[blk.first+r] = s
			}
		}
	})
}

// mulTrans sets out[:dim] = Xᵀ·u and out[dim] = Σu.
func (p *logisticProblem) mulTrans(out, u []float64) {
	var sums [2]float64
	p.halves(func(part int, blocks []csrBlock) {
		acc := out
		if part == 1 {
			acc = p.scratch
		}
		clear(acc[:p.dim])
		s := 0.0
		for _, blk := range blocks {
			for r := range len(blk.ptr) - 1 {
				ui := u[blk.first+r]
				s += ui
				for k := blk.ptr[r]; k < blk.ptr[r+1]; k++ {
					acc[blk.idx[k]] += ui * float64(blk.val[k])
				}
			}
		}
		sums[part] = s
	})
	for j, v := range p.scratch[:p.dim] {
		out[j] += v
	}
	out[p.dim] = sums[0] + sums[1]
}

func (p *logisticProblem) fun(w []float64) float64 {
	p.mul(p.z, w)
	f := 0.0
	for i, zi := range p.z {
		f += logOnePlusExp(-p.y[i] * zi)
	}
	reg := 0.0
	for _, v := range w[:p.dim] {
		reg += v * v
	}
	return p.c*f + reg/2
}

// grad sets g = ∇f(w), using z from the last fun(w).
func (p *logisticProblem) grad(w, g []float64) {
	for i, zi := range p.z {
		s := sigmoid(p.y[i] * zi)
		p.d[i] = s * (1 - s)
		p.u[i] = p.c * (s - 1) * p.y[i]
	}
	p.mulTrans(g, p.u)
	for j, v := range w[:p.dim] {
		g[j] += v
	}
}

// hessVec sets hv = ∇²f(w)·v = v + C·Xᵀ·D·(X·v + v_b) at the w of the last grad call, in one
// pass over the rows: each row's X·v and its scatter into Xᵀ(…) while the row is in cache.
func (p *logisticProblem) hessVec(v, hv []float64) {
	var sums [2]float64
	vb := v[p.dim]
	p.halves(func(part int, blocks []csrBlock) {
		acc := hv
		if part == 1 {
			acc = p.scratch
		}
		clear(acc[:p.dim])
		s := 0.0
		for _, blk := range blocks {
			for r := range len(blk.ptr) - 1 {
				lo, hi := blk.ptr[r], blk.ptr[r+1]
				t := vb
				for k := lo; k < hi; k++ {
					t += float64(blk.val[k]) * v[blk.idx[k]]
				}
				ui := p.c * p.d[blk.first+r] * t
				s += ui
				for k := lo; k < hi; k++ {
					acc[blk.idx[k]] += ui * float64(blk.val[k])
				}
			}
		}
		sums[part] = s
	})
	for j, vj := range v[:p.dim] {
		hv[j] += p.scratch[j] + vj
	}
	hv[p.dim] = sums[0] + sums[1]
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func norm2(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// axpy sets y += a·x.
func axpy(a float64, x, y []float64) {
	for i, v := range x {
		y[i] += a * v
	}
}

// fit minimises (C·Σ log(1 + exp(−y·z)) + ½‖w‖²) over the solver's columns plus an unpenalised
// intercept, then spreads each row's hapax column over that row's hapax features.
func (b *Baseline) fit(x *csr, hap *hapaxRows, labels []int, progress BaselineProgress) error {
	n := len(labels)
	p := &logisticProblem{x: x, y: make([]float64, n), c: BaselineC, dim: x.cols,
		z: make([]float64, n), d: make([]float64, n), u: make([]float64, n), scratch: make([]float64, x.cols+1)}
	for i, l := range labels {
		p.y[i] = float64(2*l - 1)
	}
	scale := 1 / (BaselineC * float64(n)) // reports the objective as mean log-loss + penalty/(C·n)
	w, err := p.tron(x.cols+1, func(iter int, f, gnorm, gnorm0 float64) {
		b.Objective = append(b.Objective, f*scale)
		progress("solver", iter, 0, fmt.Sprintf("objective %.5g, gradient %.1e of its start", f*scale, gnorm/gnorm0))
	})
	if err != nil {
		return err
	}
	for _, v := range w {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("train baseline: optimisation diverged")
		}
	}
	b.weights = make([]float64, len(b.idf))
	for j, c := range b.solverCols {
		if c >= 0 {
			b.weights[j] = w[c]
		}
	}
	shared := x.cols - n
	for i := range n {
		lo, hi := hap.ptr[i], hap.ptr[i+1]
		q := 0.0
		for _, v := range hap.val[lo:hi] {
			q += float64(v) * float64(v)
		}
		// The column's value is s ≈ √q and its weight τ: feature j of value v gets τ·v·s/q, so
		// that the row's hapaxes add exactly τ·s to its score, as in the solver.
		s := float64(float32(math.Sqrt(q)))
		for k := lo; k < hi; k++ {
			b.weights[hap.feat[k]] = w[shared+i] * float64(hap.val[k]) * s / q
		}
	}
	b.intercept = w[x.cols]
	b.solverCols = nil
	return nil
}

// tron minimises p.fun from w = 0 until ‖∇f‖ ≤ baselineTolerance·‖∇f(0)‖, calling step after each
// accepted iteration (and once at w = 0, iteration 0). As in LIBLINEAR ≥ 2.20 (Hsia, Chiang &
// Lin, ACML 2018), the CG steps are preconditioned by a blend of the identity and the Hessian's
// diagonal, with the trust region measured in that metric, and each CG solve is only as exact
// as min(0.5, √‖g‖)·‖g‖ asks: loose far from the optimum, tight near it.
func (p *logisticProblem) tron(size int, step func(iter int, f, gnorm, gnorm0 float64)) ([]float64, error) {
	const (
		eta0, eta1, eta2       = 1e-4, 0.25, 0.75
		sigma1, sigma2, sigma3 = 0.25, 0.5, 4.0
		maxIter                = 1000
	)
	w, wNew := make([]float64, size), make([]float64, size)
	g, s, r := make([]float64, size), make([]float64, size), make([]float64, size)
	dir, hd, m, z := make([]float64, size), make([]float64, size), make([]float64, size), make([]float64, size)

	f := p.fun(w)
	p.grad(w, g)
	p.preconditioner(m)
	gnorm0 := norm2(g)
	gnorm := gnorm0
	delta := math.Sqrt(mNorm2(g, g, m))
	step(0, f, gnorm, gnorm0)
	for iter := 1; iter <= maxIter && gnorm > baselineTolerance*gnorm0; {
		p.trustRegionCG(delta, g, m, s, r, dir, hd, z)
		copy(wNew, w)
		axpy(1, s, wNew)
		gs := dot(g, s)
		predicted := -0.5 * (gs - dot(s, r))
		fNew := p.fun(wNew)
		actual := f - fNew
		snorm := math.Sqrt(mNorm2(s, s, m))
		if iter == 1 {
			delta = min(delta, snorm)
		}
		alpha := sigma3
		if fNew-f-gs > 0 {
			alpha = max(sigma1, -0.5*(gs/(fNew-f-gs)))
		}
		switch {
		case actual < eta0*predicted:
			delta = min(max(alpha, sigma1)*snorm, sigma2*delta)
		case actual < eta1*predicted:
			delta = max(sigma1*delta, min(alpha*snorm, sigma2*delta))
		case actual < eta2*predicted:
			delta = max(sigma1*delta, min(alpha*snorm, sigma3*delta))
		default:
			delta = max(delta, min(alpha*snorm, sigma3*delta))
		}
		if actual > eta0*predicted {
			w, wNew = wNew, w
			f = fNew
			p.grad(w, g)
			p.preconditioner(m)
			gnorm = norm2(g)
			step(iter, f, gnorm, gnorm0)
			iter++
			continue
		}
		// At machine precision the model no longer predicts any decrease: w is the optimum.
		if actual <= 0 && predicted <= 0 || math.Abs(actual) <= 1e-12*math.Abs(f) && math.Abs(predicted) <= 1e-12*math.Abs(f) {
			break
		}
		if delta < 1e-300 {
			return nil, errors.New("train baseline: trust region collapsed")
		}
	}
	return w, nil
}

// preconditioner sets m = 0.99 + 0.01·diag(∇²f) at the w of the last grad call (LIBLINEAR's
// blend: the bare diagonal can slow CG down on some data).
func (p *logisticProblem) preconditioner(m []float64) {
	for i := range p.u {
		p.u[i] = p.c * p.d[i]
	}
	m[p.dim] = 0
	for i := range p.u {
		m[p.dim] += p.u[i]
	}
	diag := m[:p.dim]
	clear(diag)
	for _, blk := range p.x.blocks {
		for r := range len(blk.ptr) - 1 {
			ui := p.u[blk.first+r]
			for k := blk.ptr[r]; k < blk.ptr[r+1]; k++ {
				v := float64(blk.val[k])
				diag[blk.idx[k]] += ui * v * v
			}
		}
	}
	for j := range diag {
		diag[j] += 1
	}
	for j := range m {
		m[j] = 0.99 + 0.01*m[j]
	}
}

// mNorm2 is aᵀ·diag(m)·b.
func mNorm2(a, b, m []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * m[i] * b[i]
	}
	return s
}

// trustRegionCG approximately solves ∇²f·s = −g within ‖s‖_M ≤ delta by conjugate gradients
// preconditioned with diag(m); r is left as −g − ∇²f·s.
func (p *logisticProblem) trustRegionCG(delta float64, g, m, s, r, dir, hd, z []float64) {
	clear(s)
	for i, v := range g {
		r[i] = -v
		z[i] = r[i] / m[i]
	}
	copy(dir, z)
	zTr := dot(z, r)
	gNorm := math.Sqrt(zTr)
	cgTol := min(0.5, math.Sqrt(gNorm)) * gNorm
	for math.Sqrt(zTr) > cgTol {
		p.hessVec(dir, hd)
		alpha := zTr / dot(dir, hd)
		axpy(alpha, dir, s)
		if mNorm2(s, s, m) > delta*delta {
			// Step back and go to the trust region's boundary along dir.
			axpy(-alpha, dir, s)
			std, sts, dtd := mNorm2(s, dir, m), mNorm2(s, s, m), mNorm2(dir, dir, m)
			dsq := delta * delta
			rad := math.Sqrt(std*std + dtd*(dsq-sts))
			if std >= 0 {
				alpha = (dsq - sts) / (std + rad)
			} else {
				alpha = (rad - std) / dtd
			}
			axpy(alpha, dir, s)
			axpy(-alpha, hd, r)
			return
		}
		axpy(-alpha, hd, r)
		for i := range z {
			z[i] = r[i] / m[i]
		}
		zNew := dot(z, r)
		beta := zNew / zTr
		for i := range dir {
			dir[i] = z[i] + beta*dir[i]
		}
		zTr = zNew
	}
}

package llm

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/sentitune/sentitune/internal/torch"
)

// Activation checkpointing per decoder layer, driven from Go: a training forward runs the layers
// under no-grad keeping only each layer's input (and the generator state before it), the last
// layer with grad from a leaf copy of its input; Backward then recomputes each earlier layer, last
// first, with grad from its saved input and back-propagates the gradient the layer after it passed
// back. Restoring the generator state makes a recomputed layer draw the dropout masks its forward
// drew (as torch.utils.checkpoint does), so the gradients are the uncheckpointed ones.

// SetGradientCheckpointing turns activation checkpointing on or off for training forwards
// (train=true). With it on, every training forward must be followed by Backward.
func (m *Model) SetGradientCheckpointing(on bool) {
	m.checkpointing = on
	if !on {
		m.pending.free()
		m.pending = nil
	}
}

// GradientCheckpointing reports whether training forwards are checkpointed.
func (m *Model) GradientCheckpointing() bool { return m.checkpointing }

// runLayer runs decoder layer i on x in ls.
type runLayer func(ls *torch.Scope, i int, x *torch.Tensor) *torch.Tensor

// layerCheckpoints is what a checkpointed forward keeps for Backward.
type layerCheckpoints struct {
	run    runLayer
	dev    torch.Device
	inputs []*torch.Tensor // layer i's input; inputs[0] is the embeddings (with their graph), owned by the forward's scope
	rng    []*torch.Tensor // the generator state before layer i
	after  *torch.Tensor   // the generator state after the forward
	lastIn *torch.Tensor   // the last layer's input as a leaf: its gradient enters the recomputation
	store  *torch.Scope    // owns every tensor above but inputs[0]
}

func (c *layerCheckpoints) free() {
	if c != nil {
		c.store.Close()
	}
}

// checkpointedLayers runs the layers over the embeddings x (in s) as described above and returns
// the last layer's output, in s.
func (m *Model) checkpointedLayers(s *torch.Scope, x *torch.Tensor, run runLayer) (*torch.Tensor, error) {
	m.pending.free()
	m.pending = nil
	L := len(m.layers)
	c := &layerCheckpoints{run: run, dev: m.dev, inputs: make([]*torch.Tensor, L), rng: make([]*torch.Tensor, L-1), store: torch.NewScope()}
	c.inputs[0] = x
	err := torch.NoGrad(func() error {
		for i := 0; i < L-1; i++ {
			c.rng[i] = c.store.RNGState(m.dev)
			ls := torch.NewScope()
			y := run(ls, i, c.inputs[i])
			if err := ls.Err(); err != nil {
				ls.Close()
				return fmt.Errorf("forward: layer %d: %w", i, err)
			}
			c.inputs[i+1] = c.store.Adopt(ls.Keep(y))
			ls.Close()
		}
		return c.store.Err()
	})
	if err != nil {
		c.free()
		return nil, err
	}
	in := c.inputs[L-1]
	if L > 1 {
		c.lastIn = c.store.Detach(in)
		if err := c.store.Err(); err != nil {
			c.free()
			return nil, err
		}
		if err := c.lastIn.SetRequiresGrad(true); err != nil {
			c.free()
			return nil, err
		}
		in = c.lastIn
	}
	// In its own scope, as in the plain forward: only autograd keeps the layer's activations, and
	// they go with the loss's backward instead of lasting through the recomputation.
	ls := torch.NewScope()
	defer ls.Close()
	y := ls.Keep(run(ls, L-1, in))
	if err := ls.Err(); err != nil {
		c.free()
		return nil, fmt.Errorf("forward: layer %d: %w", L-1, err)
	}
	s.Adopt(y)
	c.after = c.store.RNGState(m.dev)
	if err := c.store.Err(); err != nil {
		c.free()
		return nil, err
	}
	m.pending = c
	return y, nil
}

// Backward back-propagates a scalar loss into the trainable parameters. After a checkpointed
// forward it then recomputes the earlier layers, last first, each from its saved input with the
// generator state its forward saw, and back-propagates into it; the generator ends where the
// forward left it, so the next forward draws what it would have drawn without checkpointing.
func (m *Model) Backward(s *torch.Scope, loss *torch.Tensor) error {
	s.Backward(loss)
	c := m.pending
	m.pending = nil
	if err := s.Err(); err != nil || c == nil {
		c.free()
		return err
	}
	defer c.free()
	if c.lastIn == nil { // one layer: nothing was left out of the graph
		return nil
	}
	gs := torch.NewScope() // the gradient passed from layer to layer
	defer gs.Close()
	g := gs.Grad(c.lastIn)
	if err := gs.Err(); err != nil {
		return err
	}
	if g == nil {
		return errors.New("backward: the last layer's input got no gradient")
	}
	for i := len(m.layers) - 2; i >= 0; i-- {
		next, err := c.recompute(i, g)
		g.Free()
		if err != nil {
			return fmt.Errorf("backward: recompute layer %d: %w", i, err)
		}
		g = gs.Adopt(next)
	}
	s.SetRNGState(c.dev, c.after)
	return s.Err()
}

// recompute runs layer i again from its saved input, with the generator state its forward saw,
// back-propagates g (the gradient of its output) into it, and returns the gradient of its input
// (nil for layer 0, whose input is the embeddings' graph). Only the layer's output and input
// outlive the recomputation: autograd alone keeps the activations backward needs, and frees them
// as it goes, as it does for a layer of the plain forward.
func (c *layerCheckpoints) recompute(i int, g *torch.Tensor) (*torch.Tensor, error) {
	ls := torch.NewScope()
	ls.SetRNGState(c.dev, c.rng[i])
	in := c.inputs[i]
	if i > 0 {
		in = ls.Keep(ls.Detach(in))
		if ls.Err() == nil {
			ls.Fail(in.SetRequiresGrad(true))
		}
	}
	y := ls.Keep(c.run(ls, i, in))
	err := ls.Err()
	ls.Close()
	bs := torch.NewScope()
	defer bs.Close()
	bs.Adopt(y)
	if i == 0 {
		if err == nil {
			bs.BackwardWith(y, g)
		}
		return nil, cmp.Or(err, bs.Err())
	}
	bs.Adopt(in)
	if err != nil {
		return nil, err
	}
	bs.BackwardWith(y, g)
	c.inputs[i].Free() // needed by this recomputation only
	grad := bs.Keep(bs.Grad(in))
	if err := bs.Err(); err != nil {
		return nil, err
	}
	if grad == nil {
		return nil, fmt.Errorf("layer %d's input got no gradient", i)
	}
	return grad, nil
}

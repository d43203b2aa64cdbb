// Package righttypes uses descriptors with the types they declare; it
// must build. It is the control for wrongtypes.
package righttypes

import (
	"context"

	"github.com/gosignalr/signalr/contract"
)

var (
	score = contract.NewMethod2[string, int]("Score")
	ask   = contract.NewFunc1[string, int]("Ask")
)

// Use makes every call that wrongtypes gets wrong, rightly.
func Use(ctx context.Context, to contract.Sender, on contract.Invoker, r contract.Registrar) error {
	if err := score.Send(ctx, to, "ann", 3); err != nil {
		return err
	}
	name, points := "bob", 4
	if err := score.Send(ctx, to, name, points); err != nil {
		return err
	}
	if err := score.On(r, func(name string, points int) {}); err != nil {
		return err
	}
	var n int
	n, err := ask.Invoke(ctx, on, "question")
	if err != nil {
		return err
	}
	_ = n
	return ask.On(r, func(q string) (int, error) { return len(q), nil })
}

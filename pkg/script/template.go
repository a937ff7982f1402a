package script

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"text/template/parse"
)

// Limits on one render: templates come from an SD card that anyone with the card can edit,
// and one request must not cost unbounded CPU or memory.
const (
	tmplMaxOutput = 1 << 20  // bytes of rendered script
	tmplMaxSteps  = 1 << 20  // nodes and commands evaluated
	tmplMaxIter   = 100_000  // range iterations, all loops together
	tmplMaxBytes  = 16 << 20 // bytes produced by functions (printf, print, slice, …)
	tmplMaxDepth  = 1000     // nested evaluation (parenthesised pipelines, blocks)
	tmplMaxWidth  = 1 << 16  // printf width or precision
	tmplNoValue   = "<no value>"
)

// tmplFuncs are the builtin functions a script may call; the values only tell the parser
// that the name exists.
var tmplFuncs = map[string]any{
	"and": true, "or": true, "not": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"index": true, "slice": true, "len": true,
	"print": true, "printf": true, "println": true, "urlquery": true,
}

// tmplUnsupported are text/template builtins that parse (so that the error names them) but
// are refused.
var tmplUnsupported = map[string]any{"call": true, "html": true, "js": true}

// ErrLimit is wrapped by Render errors caused by a limit (output size, loop iterations,
// work), as opposed to an error in the template itself.
var ErrLimit = errors.New("template limit exceeded")

// ErrUnsupported is wrapped by Parse errors for constructs this evaluator refuses.
var ErrUnsupported = errors.New("not supported in pxe-edge scripts")

// Template is a parsed script. It is immutable: one Template may render for many requests
// at once.
type Template struct {
	name string
	tree *parse.Tree
}

// Parse parses src with text/template's syntax (name appears in error messages) and refuses
// what Render cannot do, naming the construct (errors wrap ErrUnsupported).
func Parse(name, src string) (*Template, error) {
	trees, err := parse.Parse(name, src, "", "", tmplFuncs, tmplUnsupported)
	if err != nil {
		return nil, err
	}
	for n := range trees {
		if n != name {
			return nil, fmt.Errorf("template: %s: {{define %q}} (or {{block}}): %w", name, n, ErrUnsupported)
		}
	}
	t := trees[name]
	if t == nil || t.Root == nil {
		return nil, fmt.Errorf("template: %s: empty template", name)
	}
	if err := checkNode(t, t.Root); err != nil {
		return nil, err
	}
	return &Template{name: name, tree: t}, nil
}

// checkNode walks the tree for constructs render refuses, so they fail before any request.
func checkNode(t *parse.Tree, n parse.Node) error {
	if n == nil {
		return nil
	}
	unsupported := func(what string) error {
		loc, _ := t.ErrorContext(n)
		return fmt.Errorf("template: %s: %s: %w", loc, what, ErrUnsupported)
	}
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			if err := checkNode(t, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkNode(t, n.Pipe)
	case *parse.IfNode:
		return checkBranch(t, &n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(t, &n.BranchNode)
	case *parse.WithNode:
		return checkBranch(t, &n.BranchNode)
	case *parse.TemplateNode:
		return unsupported("{{template " + fmt.Sprintf("%q", n.Name) + "}}")
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkNode(t, c); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if err := checkNode(t, a); err != nil {
				return err
			}
		}
	case *parse.ChainNode:
		return checkNode(t, n.Node)
	case *parse.IdentifierNode:
		if tmplUnsupported[n.Ident] != nil {
			return unsupported("function " + n.Ident)
		}
	}
	return nil
}

func checkBranch(t *parse.Tree, b *parse.BranchNode) error {
	if err := checkNode(t, b.Pipe); err != nil {
		return err
	}
	if err := checkNode(t, b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkNode(t, b.ElseList)
	}
	return nil
}

// Render executes the template with d as dot and returns the whole output. On error nothing
// of a partial output is returned: a script is sent whole or not at all.
func (st *Template) Render(d Data) ([]byte, error) { return st.render(d) }

// render executes the template with data as dot into a new buffer.
func (st *Template) render(data any) (out []byte, err error) {
	s := &tmplState{tree: st.tree, name: st.name}
	s.vars = append(s.vars, tmplVar{"$", data})
	defer func() {
		if r := recover(); r != nil {
			te, ok := r.(tmplError)
			if !ok {
				panic(r)
			}
			out, err = nil, te.err
		}
	}()
	s.walk(data, st.tree.Root)
	return s.out.Bytes(), nil
}

// tmplError carries an error out of the evaluator's recursion (recovered by render).
type tmplError struct{ err error }

// Loop control, as text/template: panics recovered by the enclosing range.
type tmplBreak struct{}
type tmplContinue struct{}

type tmplVar struct {
	name  string
	value any
}

type tmplState struct {
	tree  *parse.Tree
	name  string
	node  parse.Node
	vars  []tmplVar
	out   bytes.Buffer
	steps int
	iters int
	bytes int
	depth int
}

func (s *tmplState) at(n parse.Node) { s.node = n }

// errorf stops the render with an error located like text/template's.
func (s *tmplState) errorf(format string, args ...any) {
	s.fail(fmt.Errorf(format, args...))
}

func (s *tmplState) fail(err error) {
	name := strings.ReplaceAll(s.name, "%", "%%")
	if s.node == nil {
		panic(tmplError{fmt.Errorf("template: %s: %w", name, err)})
	}
	loc, ctx := s.tree.ErrorContext(s.node)
	panic(tmplError{fmt.Errorf("template: %s: executing %q at <%s>: %w", loc, s.name, ctx, err)})
}

func (s *tmplState) limit(what string) {
	s.fail(fmt.Errorf("%w: %s", ErrLimit, what))
}

// step charges one unit of work.
func (s *tmplState) step() {
	s.steps++
	if s.steps > tmplMaxSteps {
		s.limit(fmt.Sprintf("more than %d evaluation steps", tmplMaxSteps))
	}
}

// produced charges n bytes made by a function.
func (s *tmplState) produced(n int) {
	s.bytes += n
	if s.bytes > tmplMaxBytes {
		s.limit(fmt.Sprintf("functions produced more than %d bytes", tmplMaxBytes))
	}
}

func (s *tmplState) write(b string) {
	if s.out.Len()+len(b) > tmplMaxOutput {
		s.limit(fmt.Sprintf("output larger than %d bytes", tmplMaxOutput))
	}
	s.out.WriteString(b)
}

func (s *tmplState) enter() {
	s.depth++
	if s.depth > tmplMaxDepth {
		s.limit(fmt.Sprintf("nesting deeper than %d", tmplMaxDepth))
	}
}

func (s *tmplState) leave() { s.depth-- }

func (s *tmplState) push(name string, v any) { s.vars = append(s.vars, tmplVar{name, v}) }
func (s *tmplState) mark() int               { return len(s.vars) }
func (s *tmplState) pop(m int)               { s.vars = s.vars[:m] }

func (s *tmplState) setVar(name string, v any) {
	for i := len(s.vars) - 1; i >= 0; i-- {
		if s.vars[i].name == name {
			s.vars[i].value = v
			return
		}
	}
	s.errorf("undefined variable: %s", name)
}

func (s *tmplState) setTopVar(n int, v any) { s.vars[len(s.vars)-n].value = v }

func (s *tmplState) varValue(name string) any {
	for i := len(s.vars) - 1; i >= 0; i-- {
		if s.vars[i].name == name {
			return s.vars[i].value
		}
	}
	s.errorf("undefined variable: %s", name)
	return nil
}

func (s *tmplState) walk(dot any, node parse.Node) {
	s.step()
	s.enter()
	defer s.leave()
	s.at(node)
	switch node := node.(type) {
	case *parse.ActionNode:
		// Variables declared here live until the end of the enclosing block.
		val := s.evalPipeline(dot, node.Pipe)
		if len(node.Pipe.Decl) == 0 {
			s.printValue(node, val)
		}
	case *parse.BreakNode:
		panic(tmplBreak{})
	case *parse.ContinueNode:
		panic(tmplContinue{})
	case *parse.CommentNode:
	case *parse.IfNode:
		s.walkIfOrWith(false, dot, node.Pipe, node.List, node.ElseList)
	case *parse.WithNode:
		s.walkIfOrWith(true, dot, node.Pipe, node.List, node.ElseList)
	case *parse.ListNode:
		for _, n := range node.Nodes {
			s.walk(dot, n)
		}
	case *parse.RangeNode:
		s.walkRange(dot, node)
	case *parse.TextNode:
		s.write(string(node.Text))
	default:
		s.fail(fmt.Errorf("%s: %w", node, ErrUnsupported))
	}
}

func (s *tmplState) walkIfOrWith(with bool, dot any, pipe *parse.PipeNode, list, elseList *parse.ListNode) {
	defer s.pop(s.mark())
	val := s.evalPipeline(dot, pipe)
	truth, ok := tmplTruth(val)
	if !ok {
		s.errorf("if/with can't use %v", val)
	}
	switch {
	case truth && with:
		s.walk(val, list)
	case truth:
		s.walk(dot, list)
	case elseList != nil:
		s.walk(dot, elseList)
	}
}

func (s *tmplState) walkRange(dot any, r *parse.RangeNode) {
	s.at(r)
	defer func() {
		if rec := recover(); rec != nil {
			if _, ok := rec.(tmplBreak); !ok {
				panic(rec)
			}
		}
	}()
	defer s.pop(s.mark())
	val := s.evalPipeline(dot, r.Pipe)
	mark := s.mark()
	one := func(index, elem any) {
		s.iters++
		if s.iters > tmplMaxIter {
			s.at(r)
			s.limit(fmt.Sprintf("more than %d range iterations", tmplMaxIter))
		}
		if len(r.Pipe.Decl) > 0 {
			switch {
			case r.Pipe.IsAssign && len(r.Pipe.Decl) > 1:
				s.setVar(r.Pipe.Decl[0].Ident[0], index)
			case r.Pipe.IsAssign:
				s.setVar(r.Pipe.Decl[0].Ident[0], elem)
			default:
				s.setTopVar(1, elem)
			}
		}
		if len(r.Pipe.Decl) > 1 {
			if r.Pipe.IsAssign {
				s.setVar(r.Pipe.Decl[1].Ident[0], elem)
			} else {
				s.setTopVar(2, index)
			}
		}
		defer s.pop(mark)
		defer func() {
			if rec := recover(); rec != nil {
				if _, ok := rec.(tmplContinue); !ok {
					panic(rec)
				}
			}
		}()
		s.walk(elem, r.List)
	}
	ran := false
	switch v := val.(type) {
	case nil:
		// An untyped nil ranges like an empty map.
	case map[string]string:
		for _, k := range sortedKeys(v) {
			ran = true
			one(k, v[k])
		}
	case []string:
		for i, e := range v {
			ran = true
			one(i, e)
		}
	default:
		n, isInt := tmplIntRange(v)
		if !isInt {
			s.errorf("range can't iterate over %v", val)
		}
		if len(r.Pipe.Decl) > 1 {
			s.errorf("can't use %v to iterate over more than one variable", val)
		}
		for i := int64(0); i < n; i++ {
			ran = true
			one(nil, sameIntType(v, i))
		}
	}
	if !ran && r.ElseList != nil {
		s.walk(dot, r.ElseList)
	}
}

// evalPipeline evaluates pipe; declared variables are pushed (callers pop).
func (s *tmplState) evalPipeline(dot any, pipe *parse.PipeNode) any {
	if pipe == nil {
		return nil
	}
	s.at(pipe)
	var value any = tmplMissing{}
	for _, cmd := range pipe.Cmds {
		value = s.evalCommand(dot, cmd, value)
	}
	for _, v := range pipe.Decl {
		if pipe.IsAssign {
			s.setVar(v.Ident[0], value)
		} else {
			s.push(v.Ident[0], value)
		}
	}
	return value
}

// tmplMissing marks "no value from a previous pipeline stage" (text/template's missingVal).
type tmplMissing struct{}

func isMissing(v any) bool { _, ok := v.(tmplMissing); return ok }

func (s *tmplState) notAFunction(args []parse.Node, final any) {
	if len(args) > 1 || !isMissing(final) {
		s.errorf("can't give argument to non-function %s", args[0])
	}
}

func (s *tmplState) evalCommand(dot any, cmd *parse.CommandNode, final any) any {
	s.step()
	s.enter()
	defer s.leave()
	first := cmd.Args[0]
	switch n := first.(type) {
	case *parse.FieldNode:
		s.at(n)
		return s.walkFields(dot, n, n.Ident, cmd.Args, final)
	case *parse.ChainNode:
		return s.evalChainNode(dot, n, cmd.Args, final)
	case *parse.IdentifierNode:
		return s.evalFunction(dot, n, cmd, cmd.Args, final)
	case *parse.PipeNode:
		s.notAFunction(cmd.Args, final)
		return s.evalPipeline(dot, n)
	case *parse.VariableNode:
		return s.evalVariableNode(n, cmd.Args, final)
	}
	s.at(first)
	s.notAFunction(cmd.Args, final)
	switch w := first.(type) {
	case *parse.BoolNode:
		return w.True
	case *parse.DotNode:
		return dot
	case *parse.NilNode:
		s.errorf("nil is not a command")
	case *parse.NumberNode:
		return s.idealConstant(w)
	case *parse.StringNode:
		return w.Text
	}
	s.errorf("can't evaluate command %q", first)
	return nil
}

// idealConstant gives a number literal the type Go would: int, float64 or complex128.
func (s *tmplState) idealConstant(c *parse.NumberNode) any {
	s.at(c)
	isRune := len(c.Text) > 0 && c.Text[0] == '\''
	isHexInt := len(c.Text) > 2 && c.Text[0] == '0' && (c.Text[1] == 'x' || c.Text[1] == 'X') && !strings.ContainsAny(c.Text, "pP")
	switch {
	case c.IsComplex:
		return c.Complex128
	case c.IsFloat && !isHexInt && !isRune && strings.ContainsAny(c.Text, ".eEpP"):
		return c.Float64
	case c.IsInt:
		n := int(c.Int64)
		if int64(n) != c.Int64 {
			s.errorf("%s overflows int", c.Text)
		}
		return n
	case c.IsUint:
		s.errorf("%s overflows int", c.Text)
	}
	return nil
}

func (s *tmplState) evalChainNode(dot any, chain *parse.ChainNode, args []parse.Node, final any) any {
	s.at(chain)
	if chain.Node.Type() == parse.NodeNil {
		s.errorf("indirection through explicit nil in %s", chain)
	}
	recv := s.evalArg(dot, chain.Node)
	return s.walkFields(recv, chain, chain.Field, args, final)
}

func (s *tmplState) evalVariableNode(v *parse.VariableNode, args []parse.Node, final any) any {
	s.at(v)
	value := s.varValue(v.Ident[0])
	if len(v.Ident) == 1 {
		s.notAFunction(args, final)
		return value
	}
	return s.walkFields(value, v, v.Ident[1:], args, final)
}

// walkFields evaluates .X.Y.Z on recv; only the last name may receive arguments, and as
// no value here has methods, arguments are always an error.
func (s *tmplState) walkFields(recv any, _ parse.Node, ident []string, args []parse.Node, final any) any {
	for i, name := range ident {
		last := i == len(ident)-1
		hasArgs := last && (len(args) > 1 || !isMissing(final))
		recv = s.evalField(name, recv, hasArgs)
	}
	return recv
}

func (s *tmplState) evalField(name string, recv any, hasArgs bool) any {
	switch r := recv.(type) {
	case nil:
		// text/template with missingkey=zero: a field of nothing is nothing.
		return nil
	case Data:
		v, ok := r.templateField(name)
		if ok {
			if hasArgs {
				s.errorf("%s has arguments but cannot be invoked as function", name)
			}
			return v
		}
	case map[string]string:
		if hasArgs {
			s.errorf("%s is not a method but has arguments", name)
		}
		return r[name] // missingkey=zero: "" when absent
	}
	s.errorf("can't evaluate field %s in type %T", name, recv)
	return nil
}

// evalArg evaluates an argument to a function (all builtins take interface values).
func (s *tmplState) evalArg(dot any, n parse.Node) any {
	s.step()
	s.enter()
	defer s.leave()
	s.at(n)
	switch a := n.(type) {
	case *parse.DotNode:
		return dot
	case *parse.NilNode:
		return nil
	case *parse.FieldNode:
		return s.walkFields(dot, a, a.Ident, []parse.Node{n}, tmplMissing{})
	case *parse.VariableNode:
		return s.evalVariableNode(a, nil, tmplMissing{})
	case *parse.PipeNode:
		return s.evalPipeline(dot, a)
	case *parse.IdentifierNode:
		return s.evalFunction(dot, a, a, nil, tmplMissing{})
	case *parse.ChainNode:
		return s.evalChainNode(dot, a, nil, tmplMissing{})
	case *parse.BoolNode:
		return a.True
	case *parse.NumberNode:
		return s.idealConstant(a)
	case *parse.StringNode:
		return a.Text
	}
	s.errorf("can't handle %s for arg", n)
	return nil
}

// printValue writes v as text/template prints it: fmt's %v, "<no value>" for nothing.
func (s *tmplState) printValue(n parse.Node, v any) {
	s.at(n)
	switch v := v.(type) {
	case nil:
		s.write(tmplNoValue)
	case string:
		s.write(v)
	default:
		str := fmt.Sprint(v)
		s.produced(len(str))
		s.write(str)
	}
}

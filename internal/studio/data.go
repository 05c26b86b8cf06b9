package studio

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// state is what every page starts from: the workspace's files, datasets, models, runs and jobs.
func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	uploads, err1 := s.ws.list(dirUploads, false)
	datasets, err2 := s.ws.list(dirData, true)
	models, err3 := s.ws.list(dirModels, true)
	if err := errors.Join(err1, err2, err3); err != nil {
		fail(w, err)
		return
	}
	for i, u := range uploads {
		uploads[i] = dirUploads + "/" + u
	}
	reply(w, map[string]any{
		"workspace": s.ws.Root(), "uploads": uploads, "datasets": datasets, "models": models,
		"jobs": s.jobs.Jobs(), "demo": s.cfg.Demo,
	})
}

// upload stores a multipart "file" under uploads/, refusing bodies over the upload limit.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	mr, err := r.MultipartReader()
	if err != nil {
		fail(w, badRequest("upload: %v", err))
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			fail(w, badRequest("upload: no file part"))
			return
		}
		if err != nil {
			fail(w, err)
			return
		}
		if part.FormName() != "file" {
			continue
		}
		name := filepath.Base(filepath.Clean("/" + part.FileName()))
		if err := validName(name); err != nil {
			fail(w, err)
			return
		}
		if err := os.MkdirAll(filepath.Join(s.ws.Root(), dirUploads), 0o755); err != nil {
			fail(w, err)
			return
		}
		dst, err := s.ws.Resolve(dirUploads + "/" + name)
		if err != nil {
			fail(w, err)
			return
		}
		if err := atomicfile.Write(dst, func(f io.Writer) error { _, err := io.Copy(f, part); return err }); err != nil {
			fail(w, err)
			return
		}
		reply(w, map[string]string{"path": dirUploads + "/" + name})
		return
	}
}

// inspection is what the Data page shows about a review file before prep.
type inspection struct {
	Path      string            `json:"path"`
	Format    string            `json:"format"`
	Encoding  string            `json:"encoding"`
	Columns   []string          `json:"columns"`
	TextCol   string            `json:"text_col"`
	LabelCol  string            `json:"label_col"`
	Rows      int               `json:"rows"`
	BadRows   int               `json:"bad_rows"`
	Labels    map[string]int    `json:"labels"`     // raw label value → rows
	Classes   []string          `json:"classes"`    // the classes in class order: the answers "0", "1" when binary, else the names
	Mapped    map[string]int    `json:"mapped"`     // a class of Classes, or the reason a row has no label → rows
	Lengths   []int             `json:"lengths"`    // text length histogram, 20-character bins (the last is open)
	Preview   []map[string]any  `json:"preview"`    // the first Alpaca records prep will write
	Prompt    string            `json:"prompt"`     // the instruction every record carries
	Detected  map[string]string `json:"detected"`   // the columns prep would pick itself
	MapErrors []string          `json:"map_errors"` // label values the map does not know (first few)
}

const (
	inspectMaxRows = 200_000
	lengthBin      = 20
	lengthBins     = 25
)

// inspect reads a review file as prep will: columns, labels under the label map, lengths, preview.
func (s *Server) inspect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path, err := s.ws.Resolve(q.Get("path"))
	if err != nil {
		fail(w, err)
		return
	}
	ins, err := inspectFile(path, q.Get("text_col"), q.Get("label_col"), q.Get("labels"), q.Get("label_map"), q.Get("lang"))
	if err != nil {
		fail(w, err)
		return
	}
	ins.Path = q.Get("path")
	reply(w, ins)
}

func inspectFile(path, textCol, labelCol, labels, labelMap, lang string) (*inspection, error) {
	lm, err := prep.NewLabeler(labels, labelMap)
	if err != nil {
		return nil, badRequest("labels: %v", err)
	}
	rd, err := prep.Open(path, prep.FormatAuto, prep.ReadOptions{})
	if err != nil {
		return nil, badRequest("%v", err)
	}
	defer rd.Close()
	cols := rd.Columns()
	ins := &inspection{Columns: cols, Labels: map[string]int{}, Mapped: map[string]int{}, Lengths: make([]int, lengthBins),
		Detected: map[string]string{}}
	for _, l := range lm.Labels {
		ins.Classes = append(ins.Classes, className(lm.Labels, l))
		ins.Mapped[className(lm.Labels, l)] = 0 // a class no row has shows as 0
	}
	if c, ok := prep.DetectTextColumn(cols); ok {
		ins.Detected["text"] = c
	}
	if c, ok := prep.DetectLabelColumn(cols); ok {
		ins.Detected["label"] = c
	}
	if textCol == "" {
		textCol = ins.Detected["text"]
	}
	if labelCol == "" {
		labelCol = ins.Detected["label"]
	}
	ins.TextCol, ins.LabelCol = textCol, labelCol
	ti, err := prep.FindColumn(cols, textCol)
	if err != nil {
		return nil, badRequest("text column: %v", err)
	}
	li, err := prep.FindColumn(cols, labelCol)
	if err != nil {
		return nil, badRequest("label column: %v", err)
	}
	var texts []string
	for ins.Rows < inspectMaxRows {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		var rowErr *prep.RowError
		if errors.As(err, &rowErr) {
			ins.BadRows++
			continue
		}
		if err != nil {
			return nil, badRequest("%v", err)
		}
		ins.Rows++
		text, _ := prep.CleanText(rec.Get(ti))
		raw := rec.Get(li)
		ins.Labels[raw]++
		label, err := lm.Class(raw)
		switch {
		case errors.Is(err, prep.ErrSkippedLabel):
			ins.Mapped["skip"]++
		case errors.Is(err, prep.ErrMissingLabel):
			ins.Mapped["missing"]++
		case err != nil:
			ins.Mapped["unknown"]++
			if len(ins.MapErrors) < 5 && ins.Labels[raw] == 1 {
				ins.MapErrors = append(ins.MapErrors, err.Error())
			}
		default:
			ins.Mapped[className(lm.Labels, lm.Labels[label])]++
		}
		ins.Lengths[min(len([]rune(text))/lengthBin, lengthBins-1)]++
		if len(texts) < 200 {
			texts = append(texts, text)
		}
		if len(ins.Preview) < 5 && err == nil {
			ins.Preview = append(ins.Preview, map[string]any{"input": text, "output": lm.Labels[label].Answer})
		}
	}
	src := rd.Info()
	ins.Format, ins.Encoding = src.Format, src.Encoding
	if lang == "" || lang == "auto" {
		lang = prep.DetectLang(texts)
	}
	ins.Prompt = lm.Labels.Instruction(lang)
	for _, p := range ins.Preview {
		p["instruction"] = ins.Prompt
	}
	return ins, nil
}

// className is how the page names a class: binary classes by their answer ("0", "1"), as the
// files write them; K classes by name.
func className(ls task.Labels, l task.Label) string {
	if ls.IsBinary() {
		return l.Answer
	}
	return l.Name
}

// prepRequest is the Data page's prep form.
type prepRequest struct {
	Path      string  `json:"path"`
	Name      string  `json:"name"`
	TextCol   string  `json:"text_col"`
	LabelCol  string  `json:"label_col"`
	Labels    string  `json:"labels"` // K classes NAME=ANSWER,... ("": binary, or --label-map stars3/stars5)
	LabelMap  string  `json:"label_map"`
	Lang      string  `json:"lang"`
	TestRatio float64 `json:"test_ratio"`
	ValRatio  float64 `json:"val_ratio"`
	Seed      int64   `json:"seed"`
	Dedup     bool    `json:"dedup"`
}

// prepArgs is the sentitune prep command line of a form (paths relative to the workspace, where
// jobs run).
func prepArgs(p prepRequest) []string {
	args := []string{"prep", "--input", p.Path, "--out", dirData + "/" + p.Name,
		"--test-ratio", fmtFloat(p.TestRatio), "--val-ratio", fmtFloat(p.ValRatio), "--seed", strconv.FormatInt(p.Seed, 10),
		"--on-bad-row", "skip"}
	for _, kv := range [][2]string{{"--text-col", p.TextCol}, {"--label-col", p.LabelCol}, {"--labels", p.Labels}, {"--label-map", p.LabelMap}, {"--lang", p.Lang}} {
		if kv[1] != "" {
			args = append(args, kv[0], kv[1])
		}
	}
	if p.Dedup {
		args = append(args, "--dedup")
	}
	return args
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (s *Server) prep(w http.ResponseWriter, r *http.Request) {
	var p prepRequest
	if err := readJSON(w, r, &p); err != nil {
		fail(w, err)
		return
	}
	in, err := s.ws.Resolve(p.Path)
	if err != nil {
		fail(w, err)
		return
	}
	if _, err := os.Stat(in); err != nil {
		fail(w, err)
		return
	}
	if _, err := s.folder(dirData, p.Name); err != nil {
		fail(w, err)
		return
	}
	s.submit(w, "prep", dirData+"/"+p.Name, prepArgs(p))
}

// submit queues a job unless another job is writing the same output.
func (s *Server) submit(w http.ResponseWriter, kind, out string, args []string) {
	if s.jobs.Busy(out) {
		fail(w, httpError{http.StatusConflict, errors.New(out + " is being written by a queued or running job")})
		return
	}
	j, err := s.jobs.Submit(kind, out, args)
	if err != nil {
		fail(w, err)
		return
	}
	reply(w, map[string]any{"job": j, "command": commandLine(args)})
}

// commandLine is args as one shell line a person can copy.
func commandLine(args []string) string {
	parts := []string{"sentitune"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]#~=%!{}") && !strings.HasPrefix(a, "--") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// dataStats answers a dataset's stats.json.
func (s *Server) dataStats(w http.ResponseWriter, r *http.Request) {
	dir, err := s.folder(dirData, r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, prep.FileStats))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// demoModelArgs writes the tiny random-weight model with run --demo's logit scale, which lets
// the answer become likely in a few steps.
func demoModelArgs() []string {
	return []string{"init-model", "--preset", "tiny", "--logit-scale", "16", "--out", dirModels + "/demo"}
}

func (s *Server) demoModel(w http.ResponseWriter, r *http.Request) {
	dir, err := s.folder(dirModels, "demo")
	if err != nil {
		fail(w, err)
		return
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		reply(w, map[string]any{"exists": true})
		return
	}
	s.submit(w, "init-model", dirModels+"/demo", demoModelArgs())
}

// setUpDemo puts the bundled Amazon sample in uploads/ and queues the demo model.
func (s *Server) setUpDemo() error {
	dir := filepath.Join(s.ws.Root(), dirUploads)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sample := filepath.Join(dir, data.AmazonName)
	if _, err := os.Stat(sample); err != nil {
		if err := atomicfile.Write(sample, func(f io.Writer) error { _, err := f.Write(data.AmazonJSONL()); return err }); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(s.ws.Root(), dirModels, "demo", "config.json")); err == nil || s.jobs.Busy(dirModels+"/demo") {
		return nil
	}
	_, err := s.jobs.Submit("init-model", dirModels+"/demo", demoModelArgs())
	return err
}

// download serves a file of the workspace as an attachment.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	path, err := s.ws.Resolve(r.URL.Query().Get("path"))
	if err != nil {
		fail(w, err)
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		fail(w, err)
		return
	}
	if st.IsDir() {
		fail(w, badRequest("%s is a folder", r.URL.Query().Get("path")))
		return
	}
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(filepath.Base(path)))
	http.ServeFile(w, r, path)
}

// jsonFile decodes a JSON file into v.
func jsonFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

# A small evaluator for docker's Go-template --format strings.
# Input: an array of objects. $tpl: the template. Output: one rendered string per object, each
# followed by a newline (as docker prints them). Supported: text, {{.A.B}}, {{.}}, {{$.A}},
# {{json X}}, {{index X "k" ...}}, {{join X "sep"}}, {{len X}}, {{lower X}}, {{upper X}},
# {{title X}}, {{split X "sep"}}, {{print ...}}, {{println ...}}, {{printf "fmt" ...}},
# {{eq a b}}, {{ne a b}}, {{not a}}, {{and ...}}, {{or ...}}, {{.Label "k"}} (ps/ls rows),
# {{range X}}…{{else}}…{{end}}, {{if X}}…{{else}}…{{end}}, {{with X}}…{{end}}, {{- trims -}}.

def render:
  if . == null then "<no value>"
  elif type == "string" then .
  elif type == "boolean" then tostring
  elif type == "number" then (if . == floor and (. | fabs) < 1e15 then (. | floor | tostring) else tostring end)
  elif type == "array" then "[" + (map(render) | join(" ")) + "]"
  else "map[" + (to_entries | sort_by(.key) | map(.key + ":" + (.value | render)) | join(" ")) + "]"
  end;

def truthy:
  if . == null or . == false or . == 0 or . == "" or . == [] or . == {} then false else true end;

def tokens:
  . as $s
  | [match("\\{\\{(-?)\\s*(.*?)\\s*(-?)\\}\\}"; "gs")] as $ms
  | reduce $ms[] as $m ({pos: 0, out: [], rtrim_next: false};
      ($s[.pos:$m.offset]) as $text
      | (if .rtrim_next then ($text | sub("^\\s+"; "")) else $text end) as $text
      | (if $m.captures[0].string == "-" then ($text | sub("\\s+$"; "")) else $text end) as $text
      | .out += [{t: "text", v: $text}, {t: "act", v: $m.captures[1].string}]
      | .rtrim_next = ($m.captures[2].string == "-")
      | .pos = $m.offset + $m.length)
  | .out + [{t: "text", v: (($s[.pos:]) as $rest | if .rtrim_next then ($rest | sub("^\\s+"; "")) else $rest end)}];

def parse_block($toks; $start):
  def go($i; $acc):
    if $i >= ($toks | length) then {nodes: $acc, i: $i, term: null}
    else $toks[$i] as $t
    | if $t.t == "text" then go($i + 1; $acc + [$t])
      elif $t.v == "end" then {nodes: $acc, i: $i, term: "end"}
      elif $t.v == "else" then {nodes: $acc, i: $i, term: "else"}
      elif ($t.v | test("^(range|if|with)\\s")) then
        ($t.v | capture("^(?<kw>range|if|with)\\s+(?<expr>.*)$"; "s")) as $c
        | parse_block($toks; $i + 1) as $body
        | if $body.term == "else" then
            parse_block($toks; $body.i + 1) as $els
            | go($els.i + 1; $acc + [{t: $c.kw, expr: $c.expr, body: $body.nodes, else: $els.nodes}])
          else go($body.i + 1; $acc + [{t: $c.kw, expr: $c.expr, body: $body.nodes, else: []}]) end
      else go($i + 1; $acc + [$t]) end
    end;
  go($start; []);

def field($path):
  reduce ($path | split(".") | map(select(. != "")))[] as $k (.;
    if type == "object" then .[$k] else null end);

# One argument: "string", number, true/false, ., .A.B, $, $.A.B
def arg($root; $a):
  if ($a | startswith("\"")) then $a | fromjson
    elif $a == "true" then true
    elif $a == "false" then false
    elif ($a | test("^-?[0-9]+(\\.[0-9]+)?$")) then $a | tonumber
    elif $a == "$" then $root
    elif ($a | startswith("$.")) then $root | field($a[1:])
    elif ($a | startswith(".")) then field($a)
    else error("template: function \"" + $a + "\" not defined") end;

def gofmt($args):
  reduce $args[] as $v ({s: ., out: ""};
    (.s | index("%")) as $p
    | if $p == null then .
      else .out += .s[:$p] + ($v | render) | .s = .s[$p + 2:] end)
  | .out + .s;

def expr($root; $e):
  . as $dot
  | [$e | scan("\"(?:[^\"\\\\]|\\\\.)*\"|\\S+")] as $w
  | ($w[1:]) as $rest
  | if ($w | length) == 0 then null
    elif $w[0] == "json" then ($dot | arg($root; $rest[0])) | tojson
    elif $w[0] == "index" then reduce ($rest[1:][] as $x | $dot | arg($root; $x) | [.]) as $k
        ($dot | arg($root; $rest[0]); if type == "object" or type == "array" then .[$k[0]] else null end)
    elif $w[0] == "join" then ($dot | arg($root; $rest[0])) as $x | ($dot | arg($root; $rest[1])) as $sep | ($x // []) | map(render) | join($sep)
    elif $w[0] == "split" then ($dot | arg($root; $rest[0])) / ($dot | arg($root; $rest[1]))
    elif $w[0] == "len" then ($dot | arg($root; $rest[0])) | length
    elif $w[0] == "lower" then ($dot | arg($root; $rest[0])) | render | ascii_downcase
    elif $w[0] == "upper" then ($dot | arg($root; $rest[0])) | render | ascii_upcase
    elif $w[0] == "title" then ($dot | arg($root; $rest[0])) | render | (.[:1] | ascii_upcase) + .[1:]
    elif $w[0] == "print" then [$rest[] as $x | $dot | arg($root; $x) | render] | join("")
    elif $w[0] == "println" then ([$rest[] as $x | $dot | arg($root; $x) | render] | join(" ")) + "\n"
    elif $w[0] == "printf" then ($dot | arg($root; $rest[0])) | gofmt([$rest[1:][] as $x | $dot | arg($root; $x)])
    elif $w[0] == "eq" then ($dot | arg($root; $rest[0])) == ($dot | arg($root; $rest[1]))
    elif $w[0] == "ne" then ($dot | arg($root; $rest[0])) != ($dot | arg($root; $rest[1]))
    elif $w[0] == "not" then ($dot | arg($root; $rest[0]) | truthy | not)
    elif $w[0] == "and" then all($rest[] as $x | $dot | arg($root; $x); truthy)
    elif $w[0] == "or" then any($rest[] as $x | $dot | arg($root; $x); truthy)
    elif $w[0] == ".Label" then (._labels // {})[$dot | arg($root; $rest[0])] // ""
    else arg($root; $w[0]) end;

def run($nodes; $root):
  . as $dot
  | reduce $nodes[] as $n (""; . + (
      if $n.t == "text" then $n.v
      elif $n.t == "act" then ($dot | expr($root; $n.v) | render)
      elif $n.t == "if" then
        (if ($dot | expr($root; $n.expr) | truthy) then ($dot | run($n.body; $root)) else ($dot | run($n.else; $root)) end)
      elif $n.t == "with" then
        ($dot | expr($root; $n.expr)) as $v
        | (if ($v | truthy) then ($v | run($n.body; $root)) else ($dot | run($n.else; $root)) end)
      elif $n.t == "range" then
        ($dot | expr($root; $n.expr)) as $v
        | ((if ($v | type) == "object" then [$v | to_entries | sort_by(.key)[] | .value]
            elif ($v | type) == "array" then $v else [] end)) as $items
        | (if ($items | length) == 0 then ($dot | run($n.else; $root))
           else reduce $items[] as $it (""; . + ($it | run($n.body; $root))) end)
      else "" end));

($tpl | tokens) as $toks
| parse_block($toks; 0).nodes as $tree
| .[]
| . as $obj
| ($obj | run($tree; $obj)) + "\n"

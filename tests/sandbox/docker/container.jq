# The inspect object of a new container, in docker's shape, from its image ($img) and the options
# `docker create` was given (create.sh, create_container).
$img[0] as $i
# container env overrides image env key by key, like docker
| ($env | map({key: (split("=")[0]), value: .}) | from_entries) as $over
| ([$i.Config.Env[] | (split("=")[0]) as $k | if $over[$k] then $over[$k] else . end]
   + [$env[] | (split("=")[0]) as $k | select(([$i.Config.Env[] | split("=")[0]] | index($k)) == null)]
   | reduce .[] as $e ([]; if index([$e]) then . else . + [$e] end)) as $fullenv
| (if $entrypoint != "" then [$entrypoint] else $i.Config.Entrypoint end) as $ep
| (if ($cmd | length) > 0 then $cmd elif $entrypoint != "" then null else $i.Config.Cmd end) as $c
| ((($ep // []) + ($c // []))) as $argv
| (if $network == "default" then "bridge" else $network end) as $net
| {
    Id: $id, Created: $created, Path: ($argv[0] // ""), Args: ($argv[1:]),
    State: {Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false,
            Dead: false, Pid: 0, ExitCode: 0, Error: "",
            StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"},
    Image: $i.Id, ResolvConfPath: "", HostnamePath: "", HostsPath: "", LogPath: "",
    Name: $name, RestartCount: 0, Driver: "overlay2", Platform: "linux",
    HostConfig: {Binds: $binds, NetworkMode: $network,
                 # -p [IP:]HOST:CONTAINER[/proto], or CONTAINER alone (a random host port).
                 PortBindings: ($publish | map(split(":") | {c: .[-1], h: (if length > 1 then .[-2] else "" end),
                                                              ip: (if length > 2 then .[0] else "" end)}
                                               | {key: (.c | if test("/") then . else . + "/tcp" end),
                                                  value: [{HostIp: .ip, HostPort: .h}]}) | from_entries),
                 RestartPolicy: {Name: $restart, MaximumRetryCount: 0}, AutoRemove: false,
                 Links: (if ($links | length) > 0 then $links else null end),
                 ShmSize: ($shm | tonumber), Memory: ($mem | tonumber)},
    Mounts: [$binds[] | split(":") | select(length >= 2)
             | {Type: (if .[0] | startswith("/") then "bind" else "volume" end),
                Source: .[0], Destination: .[1], Mode: (.[2] // ""), RW: ((.[2] // "") != "ro"),
                Propagation: "rprivate"}],
    Config: {Hostname: $hostname, Domainname: "", User: $user, AttachStdin: false, AttachStdout: false,
             AttachStderr: false, ExposedPorts: ($i.Config.ExposedPorts // null), Tty: false,
             OpenStdin: false, StdinOnce: false, Env: $fullenv, Cmd: $c, Image: $ref,
             Volumes: ($i.Config.Volumes // null), WorkingDir: $workdir, Entrypoint: $ep,
             OnBuild: null, Labels: (($i.Config.Labels // {}) + $labels),
             StopSignal: ($i.Config.StopSignal // "SIGTERM")},
    NetworkSettings: {Bridge: "", SandboxID: "", Ports: {}, IPAddress: "", Gateway: "",
                      Networks: {($net): {Aliases: (if ($aliases | length) > 0 then $aliases else null end),
                                          IPAddress: "", Gateway: "", Links: null}}}
  }

#!/usr/bin/env python3
"""Checks Passerelle's deployment files against each other and against the code.

    python3 Tests/DeploymentTests/check_deployment.py REPO_ROOT

Covers docker-compose.yml (Compose Specification schema and invariants), .env.example (every
variable the services and the compose file read), Kafka topics, PostgreSQL roles, the kustomize
manifests and the Dockerfile's package lists. Prints each failure and a summary line; exits 0
when every check passes, 1 otherwise. Needs PyYAML and jsonschema.

The Compose Specification schema comes from the docker-compose 1.29.2 wheel on PyPI (it ships
compose/config/compose_spec.json); it is downloaded once with pip and cached, or read from the
path in COMPOSE_SPEC_SCHEMA.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import zipfile

import jsonschema
import yaml

SCHEMA_WHEEL = "docker-compose==1.29.2"
SCHEMA_MEMBER = "compose/config/compose_spec.json"
SCHEMA_CACHE = os.path.join(tempfile.gettempdir(), "passerelle-compose-spec-1.29.2")

# Jobs that run once and exit; everything else in the compose file runs for good.
ONE_SHOT = {"kafka-topics", "demo-seed", "demo-catalogue"}
DEFAULT_PORTS = {"intake": 8081, "matching": 8082, "notification": 8083, "evaluation": 8084}


class Failure(Exception):
    """A precondition of a check does not hold (a file is missing or cannot be parsed)."""


class Repo:
    """Lazily loaded views of the repository's files, shared by the checks."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self._cache = {}

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def text(self, relative):
        key = ("text", relative)
        if key not in self._cache:
            try:
                with open(self.path(relative), encoding="utf-8") as handle:
                    self._cache[key] = handle.read()
            except OSError as error:
                raise Failure(f"cannot read {relative}: {error.strerror}") from None
        return self._cache[key]

    def compose(self):
        if "compose" not in self._cache:
            try:
                document = yaml.safe_load(self.text("docker-compose.yml"))
            except yaml.YAMLError as error:
                raise Failure(f"docker-compose.yml is not valid YAML: {error}") from None
            if not isinstance(document, dict) or not isinstance(document.get("services"), dict):
                raise Failure("docker-compose.yml has no services mapping")
            self._cache["compose"] = document
        return self._cache["compose"]

    def service(self, name):
        services = self.compose()["services"]
        if name not in services or not isinstance(services[name], dict):
            raise Failure(f"docker-compose.yml has no service {name}")
        return services[name]

    def services(self):
        """The Passerelle services: Package.swift's passerelle-<name> executables that are built
        from Services/<Name>/Main (benchmark tools are executables too, but no service). The
        console is not one of them: a web application with no broker and no topics, whose compose
        service and Kubernetes manifest deploy/compose/test.sh and this file's own checks cover."""
        if "services" not in self._cache:
            names = [name for name in re.findall(r'\.executable\(\s*name:\s*"passerelle-([a-z]+)"', self.text("Package.swift"))
                     if os.path.isdir(self.path("Services", name.capitalize(), "Main")) and name != "console"]
            if not names:
                raise Failure("Package.swift declares no passerelle-<service> executable")
            self._cache["services"] = names
        return self._cache["services"]

    def env_example(self):
        """(documented, active): names listed in .env.example, commented out or not, and the
        values of the uncommented assignments."""
        if "env" not in self._cache:
            documented, active = set(), {}
            for line in self.text(".env.example").splitlines():
                match = re.match(r"\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
                if not match:
                    continue
                documented.add(match.group(2))
                if not match.group(1):
                    active[match.group(2)] = match.group(3).strip()
            self._cache["env"] = (documented, active)
        return self._cache["env"]

    def swift_sources(self):
        for top in ("Shared", "Services"):
            for directory, _, files in os.walk(self.path(top)):
                for name in sorted(files):
                    if name.endswith(".swift"):
                        full = os.path.join(directory, name)
                        with open(full, encoding="utf-8") as handle:
                            yield os.path.relpath(full, self.root), handle.read()

    def k8s_documents(self):
        """[(relative path, document)] for every YAML file under deploy/k8s."""
        if "k8s" not in self._cache:
            base = self.path("deploy", "k8s")
            if not os.path.isdir(base):
                raise Failure("deploy/k8s does not exist")
            documents, errors = [], []
            for directory, _, files in os.walk(base):
                for name in sorted(files):
                    if not name.endswith((".yaml", ".yml")):
                        continue
                    full = os.path.join(directory, name)
                    relative = os.path.relpath(full, self.root)
                    try:
                        with open(full, encoding="utf-8") as handle:
                            for document in yaml.safe_load_all(handle):
                                if document is not None:
                                    documents.append((relative, document))
                    except yaml.YAMLError as error:
                        errors.append(f"{relative}: {error}")
            self._cache["k8s"] = (documents, errors)
        return self._cache["k8s"]

    def k8s_kind(self, kind):
        return [(path, doc) for path, doc in self.k8s_documents()[0] if isinstance(doc, dict) and doc.get("kind") == kind]


def interpolate(value, env):
    """Resolves Compose interpolation in value with env (a dict), as Compose does."""

    def replace(match):
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        operator, argument = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if operator in (":-", ":?"):
            unset = current is None or current == ""
        else:
            unset = current is None
        if operator in (":-", "-"):
            return argument if unset else current
        if operator in (":?", "?"):
            if unset:
                raise Failure(f"${{{name}}} is required: {argument}")
            return current
        return current or ""

    pattern = r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    return re.sub(pattern, replace, str(value))


def environment_of(service):
    """A compose service's environment as a dict (both the list and the mapping syntax)."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        result = {}
        for item in environment:
            name, _, value = str(item).partition("=")
            result[name] = value
        return result
    return {str(k): ("" if v is None else str(v)) for k, v in environment.items()}


def compose_variables(text):
    """Names of the variables docker-compose.yml interpolates, and those it requires (:? or ?)."""
    # Compose does not interpolate comments.
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    text = text.replace("$$", "")
    names, required = set(), set()
    for match in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?\?)?", text):
        names.add(match.group(1))
        if match.group(2):
            required.add(match.group(1))
    names.update(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    return names, required


def dockerfile_instructions(text):
    """[(instruction, arguments)] with line continuations joined, comments and heredoc bodies
    (COPY <<EOF ...) dropped."""
    instructions, current, heredoc_end = [], "", None
    for line in text.splitlines():
        stripped = line.strip()
        if heredoc_end is not None:
            if stripped == heredoc_end:
                heredoc_end = None
            continue
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, rest = current.partition(" ")
        keyword = keyword.upper()
        instructions.append((keyword, rest.strip()))
        current = ""
        marker = re.search(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1", rest)
        if marker and keyword in ("COPY", "ADD", "RUN"):
            heredoc_end = marker.group(2)
    if current:
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def dockerfile_stages(text):
    """[{'base': image, 'name': alias, 'instructions': [...]}], one per FROM; a base written as
    ${ARG} is given the default of the global ARG (the image built when no argument is passed)."""
    stages, global_args = [], {}
    for keyword, rest in dockerfile_instructions(text):
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            global_args[name.strip()] = default.strip()
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            base = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0] if words else "")
            stages.append({"base": base, "name": alias, "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, rest))
    return stages


def package_list(repo, relative):
    return [line.strip() for line in repo.text(relative).splitlines() if line.strip() and not line.strip().startswith("#")]


def load_compose_schema():
    """The Compose Specification JSON Schema: from COMPOSE_SPEC_SCHEMA, the cache, or PyPI."""
    explicit = os.environ.get("COMPOSE_SPEC_SCHEMA")
    if explicit:
        try:
            with open(explicit, encoding="utf-8") as handle:
                return json.load(handle), explicit
        except (OSError, ValueError) as error:
            raise Failure(f"COMPOSE_SPEC_SCHEMA={explicit}: {error}") from None
    cached = os.path.join(SCHEMA_CACHE, "compose_spec.json")
    if not os.path.exists(cached):
        os.makedirs(SCHEMA_CACHE, exist_ok=True)
        download = tempfile.mkdtemp(prefix="wheel-", dir=SCHEMA_CACHE)
        try:
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                       "--no-deps", "--only-binary", ":all:", SCHEMA_WHEEL, "-d", download]
            try:
                subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
                output = getattr(error, "stderr", "") or ""
                raise Failure(f"could not download {SCHEMA_WHEEL} from PyPI ({' '.join(command)}): {output.strip()[-500:]}") from None
            wheels = [name for name in os.listdir(download) if name.endswith(".whl")]
            if not wheels:
                raise Failure(f"pip downloaded no wheel of {SCHEMA_WHEEL}")
            with zipfile.ZipFile(os.path.join(download, wheels[0])) as wheel:
                if SCHEMA_MEMBER not in wheel.namelist():
                    raise Failure(f"{wheels[0]} has no {SCHEMA_MEMBER}")
                data = wheel.read(SCHEMA_MEMBER)
            # Written aside and renamed, so a concurrent or interrupted run never sees half a file.
            partial = cached + f".{os.getpid()}.tmp"
            with open(partial, "wb") as handle:
                handle.write(data)
            os.replace(partial, cached)
        finally:
            shutil.rmtree(download, ignore_errors=True)
    with open(cached, encoding="utf-8") as handle:
        return json.load(handle), cached


# Compose durations are Go-style ("1m30s"), not the ISO 8601 durations of JSON Schema's own
# "duration" format, so only this checker is registered.
COMPOSE_FORMATS = jsonschema.FormatChecker(formats=())


@COMPOSE_FORMATS.checks("duration")
def _is_compose_duration(value):
    if not isinstance(value, str) or "${" in value:
        return True
    return re.fullmatch(r"([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+", value) is not None


CHECKS = []


def check(name):
    def register(function):
        CHECKS.append((name, function))
        return function

    return register


# ---- docker-compose.yml -----------------------------------------------------------------------

@check("docker-compose.yml validates against the Compose Specification schema")
def compose_schema(repo):
    schema, source = load_compose_schema()
    document = repo.compose()
    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
    validator = validator_class(schema, format_checker=COMPOSE_FORMATS)
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        location = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{location}: {error.message[:300]} (schema {source})")
    return problems


@check("every long-running compose service has a health check")
def compose_healthchecks(repo):
    problems = []
    for name, service in repo.compose()["services"].items():
        if name in ONE_SHOT:
            continue
        healthcheck = service.get("healthcheck")
        if not healthcheck or healthcheck.get("disable") or healthcheck.get("test") in (["NONE"], "NONE", None):
            problems.append(f"{name} has no health check")
    return problems


@check("no compose service has a container_name")
def compose_container_names(repo):
    return [f"{name} sets container_name {service['container_name']!r}"
            for name, service in repo.compose()["services"].items() if "container_name" in service]


@check("matching publishes no fixed host port (so it can be scaled)")
def compose_matching_ports(repo):
    problems = []
    for entry in repo.service("matching").get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") not in (None, ""):
                problems.append(f"matching publishes host port {entry['published']}")
            continue
        # [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]; an IPv6 address comes in brackets.
        spec = re.sub(r"^\[[^\]]*\]:", "", str(entry).split("/")[0])
        parts = spec.split(":")
        host_port = parts[-2] if len(parts) >= 2 else ""
        if host_port:
            problems.append(f"matching publishes {entry!r} (host port {host_port})")
    return problems


@check("the Passerelle services wait for healthy postgres and kafka and for the topics")
def compose_dependencies(repo):
    wanted = {"postgres": "service_healthy", "kafka": "service_healthy", "kafka-topics": "service_completed_successfully"}
    problems = []
    for name in repo.services():
        depends = repo.service(name).get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on is a list, without conditions")
            continue
        for dependency, condition in wanted.items():
            actual = (depends.get(dependency) or {}).get("condition")
            if actual != condition:
                problems.append(f"{name}: depends_on {dependency} has condition {actual!r}, expected {condition}")
    return problems


@check("long-running services have a restart policy; one-shot jobs do not restart")
def compose_restart(repo):
    problems = []
    for name, service in repo.compose()["services"].items():
        restart = str(service.get("restart", ""))
        if name in ONE_SHOT:
            if restart not in ("no", ""):
                problems.append(f"one-shot job {name} has restart {restart!r}")
        elif restart in ("", "no"):
            problems.append(f"{name} has no restart policy")
    return problems


@check("the Passerelle services have cpu and memory limits")
def compose_limits(repo):
    problems = []
    for name in repo.services():
        limits = (((repo.service(name).get("deploy") or {}).get("resources") or {}).get("limits")) or {}
        for key in ("cpus", "memory"):
            if limits.get(key) in (None, ""):
                problems.append(f"{name} has no deploy.resources.limits.{key}")
    return problems


@check("the Passerelle services are built from deploy/Dockerfile, one SERVICE each")
def compose_builds(repo):
    problems = []
    for name in repo.services():
        build = repo.service(name).get("build")
        if not isinstance(build, dict):
            problems.append(f"{name} is not built from deploy/Dockerfile")
            continue
        if os.path.normpath(build.get("context", ".")) != "." or build.get("dockerfile") != "deploy/Dockerfile":
            problems.append(f"{name}: build context/dockerfile is {build.get('context')!r}/{build.get('dockerfile')!r}")
        args = build.get("args") or {}
        if isinstance(args, list):
            args = dict(str(a).partition("=")[::2] for a in args)
        if args.get("SERVICE") != name:
            problems.append(f"{name}: build arg SERVICE is {args.get('SERVICE')!r}")
        environment = environment_of(repo.service(name))
        if environment.get("PASSERELLE_HTTP_HOST") != "0.0.0.0":
            problems.append(f"{name}: PASSERELLE_HTTP_HOST is not 0.0.0.0")
        if name in DEFAULT_PORTS and environment.get("PASSERELLE_HTTP_PORT") != str(DEFAULT_PORTS[name]):
            problems.append(f"{name}: PASSERELLE_HTTP_PORT is {environment.get('PASSERELLE_HTTP_PORT')!r}, expected {DEFAULT_PORTS[name]}")
    return problems


# ---- .env.example ---------------------------------------------------------------------------

@check("every PASSERELLE_* variable in the Swift sources is documented in .env.example")
def env_swift_variables(repo):
    documented, _ = repo.env_example()
    problems = []
    seen = set()
    for path, text in repo.swift_sources():
        for name in re.findall(r'"(PASSERELLE_[A-Z0-9_]+)"', text):
            if name in seen:
                continue
            seen.add(name)
            if name.endswith("_"):
                if not any(d.startswith(name) for d in documented) and name not in repo.text(".env.example"):
                    problems.append(f"prefix {name} ({path}) appears nowhere in .env.example")
            elif name not in documented:
                problems.append(f"{name} ({path}) is not in .env.example")
    if not seen:
        problems.append("found no PASSERELLE_* literal in Shared/ or Services/ (is the root right?)")
    return problems


@check("every variable docker-compose.yml interpolates is in .env.example")
def env_compose_variables(repo):
    documented, active = repo.env_example()
    names, required = compose_variables(repo.text("docker-compose.yml"))
    problems = [f"${{{name}}} is not in .env.example" for name in sorted(names - documented)]
    # Required ones must be live, so `cp .env.example .env && docker compose up` works.
    problems += [f"${{{name}:?}} is required but commented out or empty in .env.example"
                 for name in sorted(required & documented) if not active.get(name)]
    return problems


@check(".env.example holds placeholder secrets and a JWT secret of at least 32 bytes")
def env_placeholders(repo):
    _, active = repo.env_example()
    problems = []
    secret = active.get("PASSERELLE_JWT_HS256_SECRET")
    if secret is None:
        problems.append("PASSERELLE_JWT_HS256_SECRET is not set in .env.example")
    elif len(secret.encode()) < 32:
        problems.append(f"PASSERELLE_JWT_HS256_SECRET is {len(secret.encode())} bytes, the services need 32")
    for name, value in active.items():
        is_secret = name.endswith(("_PASSWORD", "_SECRET")) and "_ALLOW_" not in name
        if is_secret and value and "change-me" not in value:
            problems.append(f"{name} has a value that does not look like a placeholder: {value!r}")
    return problems


# ---- Kafka topics ---------------------------------------------------------------------------

def expected_topics(repo):
    """Topic names, partitions and compaction from Shared/Contracts/Topics.swift."""
    swift = repo.text("Shared/Contracts/Topics.swift")
    enum = re.search(r"enum\s+TopicName\b[^{]*\{(.*?)\n\}", swift, re.S)
    if not enum:
        raise Failure("Topics.swift: enum TopicName not found")
    cases = dict(re.findall(r'case\s+(\w+)\s*=\s*"([^"]+)"', enum.group(1)))
    if not cases:
        raise Failure("Topics.swift: TopicName has no raw values")
    consumed = re.search(r"for\s+consumed\s+in\s+\[([^\]]*)\]", swift)
    if not consumed:
        raise Failure("Topics.swift: the list of topics with a dead-letter topic was not found")
    dead_letter = re.findall(r"\.(\w+)", consumed.group(1))
    unknown = [c for c in dead_letter if c not in cases]
    if unknown:
        raise Failure(f"Topics.swift: dead-letter list names unknown cases {unknown}")
    return cases, dead_letter, swift


def topics_file(repo):
    """{name: (partitions, {config: value})} from deploy/kafka/topics.txt; problems."""
    topics, problems = {}, []
    for number, line in enumerate(repo.text("deploy/kafka/topics.txt").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 3 or not fields[1].isdigit():
            problems.append(f"topics.txt:{number}: expected NAME PARTITIONS CONFIGS, got {line!r}")
            continue
        configs = {}
        if fields[2] != "-":
            for pair in fields[2].split(","):
                key, sep, value = pair.partition("=")
                if not sep or not key:
                    problems.append(f"topics.txt:{number}: {pair!r} is not key=value")
                configs[key] = value
        if fields[0] in topics:
            problems.append(f"topics.txt:{number}: {fields[0]} listed twice")
        topics[fields[0]] = (int(fields[1]), configs)
    return topics, problems


@check("create-topics.sh reads topics.txt and names no topic itself")
def topics_script(repo):
    script = repo.text("deploy/kafka/create-topics.sh")
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    problems = []
    if "topics.txt" not in code:
        problems.append("create-topics.sh does not read topics.txt (outside its comments)")
    names = sorted(set(re.findall(r"\bpasserelle\.[a-z0-9_.-]+", script)))
    if names:
        problems.append(f"create-topics.sh hard-codes topic names: {', '.join(names)}")
    if "kafka-topics" not in code or "--if-not-exists" not in code:
        problems.append("create-topics.sh does not call kafka-topics(.sh) --create --if-not-exists")
    job = repo.service("kafka-topics")
    volumes = [str(v) if not isinstance(v, dict) else f"{v.get('source')}:{v.get('target')}:{'ro' if v.get('read_only') else 'rw'}"
               for v in job.get("volumes") or []]
    if not any(v.split(":")[0].rstrip("/") in ("./deploy/kafka/topics.txt", "./deploy/kafka") and v.endswith(":ro") for v in volumes):
        problems.append("the kafka-topics job does not mount deploy/kafka/topics.txt read-only")
    command = " ".join(" ".join(map(str, part)) if isinstance(part, list) else str(part)
                       for part in (job.get("entrypoint") or "", job.get("command") or ""))
    if "create-topics.sh" not in command:
        problems.append("the kafka-topics job does not run create-topics.sh")
    return problems


@check("topics.txt lists exactly the topics of Shared/Contracts/Topics.swift")
def topics_names(repo):
    cases, dead_letter, _ = expected_topics(repo)
    expected = set(cases.values()) | {cases[c] + ".dlq" for c in dead_letter}
    listed, problems = topics_file(repo)
    problems += [f"{name} is in Topics.swift but not in topics.txt" for name in sorted(expected - set(listed))]
    problems += [f"{name} is in topics.txt but not in Topics.swift" for name in sorted(set(listed) - expected)]
    return problems


@check("topics.txt partitions and compaction agree with Topics.swift")
def topics_settings(repo):
    cases, dead_letter, swift = expected_topics(repo)
    listed, problems = topics_file(repo)
    partitions = re.search(r"defaultPartitions\s*=\s*(\d+)", swift)
    compacted = re.search(r"var\s+isCompacted\s*:\s*Bool\s*\{\s*self\s*==\s*\.(\w+)\s*\}", swift)
    dlq_partitions = re.search(r"deadLetter\(consumed\)\s*,\s*(\d+)", swift)
    if not (partitions and compacted and dlq_partitions):
        return problems + ["Topics.swift: partitions, isCompacted or the dead-letter partition count has a shape this check does not read"]
    for case, name in cases.items():
        if name not in listed:
            continue
        count, configs = listed[name]
        if count != int(partitions.group(1)):
            problems.append(f"{name}: {count} partitions in topics.txt, {partitions.group(1)} in Topics.swift")
        is_compacted = configs.get("cleanup.policy") == "compact"
        if is_compacted != (case == compacted.group(1)):
            problems.append(f"{name}: compaction in topics.txt ({is_compacted}) differs from Topics.swift")
    for case in dead_letter:
        name = cases[case] + ".dlq"
        if name in listed and listed[name][0] != int(dlq_partitions.group(1)):
            problems.append(f"{name}: {listed[name][0]} partitions in topics.txt, {dlq_partitions.group(1)} in Topics.swift")
    return problems


# ---- PostgreSQL roles -----------------------------------------------------------------------

def init_sql_roles(repo):
    sql = repo.text("deploy/postgres/init.sql")
    roles = set()
    for array in re.findall(r"unnest\(ARRAY\[([^\]]*)\]\)", sql):
        roles.update(re.findall(r"'([a-z_][a-z0-9_]*)'", array))
    roles.update(re.findall(r"CREATE\s+ROLE\s+\"?([a-z_][a-z0-9_]*)", sql, re.I))
    return sql, roles


@check("init.sql roles match the compose and Kubernetes DB users and Settings.swift's default")
def roles_match(repo):
    services = repo.services()
    _, roles = init_sql_roles(repo)
    problems = []
    settings = repo.text("Shared/ServiceRuntime/Settings.swift")
    default = re.search(r'"PASSERELLE_DB_USER"\s*,\s*default:\s*"([^"]*)\\\(service\)([^"]*)"', settings)
    if not default:
        problems.append('Settings.swift: default of PASSERELLE_DB_USER is not of the form "...\\(service)..."')
        expected = {f"passerelle_{s}" for s in services}
    else:
        expected = {f"{default.group(1)}{s}{default.group(2)}" for s in services}
        if expected != {f"passerelle_{s}" for s in services}:
            problems.append(f"Settings.swift's default DB users {sorted(expected)} are not passerelle_<service>")
    # The console's sessions role, created when the local stack gives it a password.
    if os.path.isdir(repo.path("Services", "Console", "Main")):
        expected = expected | {"passerelle_console"}
    if roles != expected:
        problems.append(f"init.sql creates {sorted(roles)}, the services use {sorted(expected)}")
    _, active = repo.env_example()
    env = dict(active)
    for name in services:
        environment = environment_of(repo.service(name))
        user = interpolate(environment.get("PASSERELLE_DB_USER", ""), env) or None
        if user != f"passerelle_{name}":
            problems.append(f"compose {name}: PASSERELLE_DB_USER is {user!r}, expected passerelle_{name}")
        schema = interpolate(environment.get("PASSERELLE_DB_SCHEMA", name), env)
        if schema != name:
            problems.append(f"compose {name}: PASSERELLE_DB_SCHEMA is {schema!r}, expected {name}")
    passwords = {s: environment_of(repo.service(s)).get("PASSERELLE_DB_PASSWORD", "") for s in services}
    if len(set(passwords.values())) != len(passwords):
        problems.append("compose services share a PASSERELLE_DB_PASSWORD setting; each role needs its own")
    for path, deployment in repo.k8s_kind("Deployment"):
        name = deployment.get("metadata", {}).get("name")
        for container in deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            env_list = {e.get("name"): e.get("value") for e in container.get("env") or []}
            if name in services and env_list.get("PASSERELLE_DB_USER", f"passerelle_{name}") != f"passerelle_{name}":
                problems.append(f"{path}: {name} uses DB user {env_list.get('PASSERELLE_DB_USER')!r}")
    return problems


@check("each role in init.sql gets its own schema and nothing else")
def roles_isolated(repo):
    sql, roles = init_sql_roles(repo)
    problems = []
    owners = {}
    for schema, role in re.findall(r"CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+AUTHORIZATION\s+(\w+)", sql, re.I):
        owners.setdefault(role, []).append(schema)
    for role in sorted(roles):
        schemas = owners.get(role, [])
        own = role.removeprefix("passerelle_")
        if schemas != [own]:
            problems.append(f"{role} owns schemas {schemas}, expected exactly [{own}]")
    for statement in re.findall(r"GRANT\s+[^;]*?\s+ON\s+(?:ALL\s+\w+\s+IN\s+)?SCHEMA\s+[^;]*;", sql, re.I):
        target = re.search(r"SCHEMA\s+(\w+)\s+TO\s+([\w\s,]+)", statement, re.I)
        if target:
            for grantee in re.split(r"[\s,]+", target.group(2).strip()):
                if grantee and grantee.lower() != f"passerelle_{target.group(1).lower()}":
                    problems.append(f"grant on schema {target.group(1)} to {grantee}: {statement.strip()}")
    for role, path in re.findall(r"ALTER\s+ROLE\s+(\w+)\s+SET\s+search_path\s*=\s*([\w\s,\"]+);", sql, re.I):
        if [p.strip(' "') for p in path.split(",")] != [role.removeprefix("passerelle_")]:
            problems.append(f"{role} has search_path {path.strip()}")
    for granted, grantee in re.findall(r"GRANT\s+(passerelle_\w+)\s+TO\s+(\w+)", sql, re.I):
        problems.append(f"role {granted} is granted to {grantee}")
    variables = set(re.findall(r":'(\w+)'", sql))
    init = repo.text("deploy/postgres/docker-init.sh")
    missing = sorted(v for v in variables if not re.search(rf"-v\s+{v}=", init))
    if missing:
        problems.append(f"docker-init.sh does not pass {', '.join(missing)} to init.sql")
    postgres = repo.service("postgres")
    mounts = " ".join(str(v) for v in postgres.get("volumes") or [])
    if "deploy/postgres/init.sql:/passerelle/init.sql" not in mounts or "docker-init.sh:/docker-entrypoint-initdb.d/" not in mounts:
        problems.append("the postgres service does not mount init.sql at /passerelle/init.sql and docker-init.sh into /docker-entrypoint-initdb.d")
    return problems


# ---- Kubernetes -----------------------------------------------------------------------------

@check("every YAML file under deploy/k8s parses")
def k8s_parse(repo):
    documents, errors = repo.k8s_documents()
    if not documents and not errors:
        return ["deploy/k8s holds no YAML document"]
    return errors


@check("the kustomizations' resources exist and the base holds every manifest but the Secret template and optional/")
def k8s_kustomization(repo):
    problems = []
    kustomizations = [(p, d) for p, d in repo.k8s_documents()[0]
                      if os.path.basename(p) in ("kustomization.yaml", "kustomization.yml") and isinstance(d, dict)]
    base = [(p, d) for p, d in kustomizations if os.path.dirname(p) == os.path.join("deploy", "k8s")]
    if not base:
        return ["deploy/k8s/kustomization.yaml is missing"]
    for path, document in kustomizations:
        folder = os.path.dirname(repo.path(path))
        for key in ("resources", "components"):
            for entry in document.get(key) or []:
                if "://" in entry or entry.startswith("github.com/"):
                    continue
                if not os.path.exists(os.path.join(folder, entry)):
                    problems.append(f"{path}: {key} entry {entry} does not exist")
    _, document = base[0]
    listed = {os.path.normpath(e) for e in (document.get("resources") or []) + (document.get("components") or [])}
    folder = repo.path("deploy", "k8s")
    for name in sorted(os.listdir(folder)):
        if not name.endswith((".yaml", ".yml")) or name.startswith("kustomization."):
            continue
        if name.startswith("secret"):
            if name in listed:
                problems.append(f"the base lists {name}: a Secret template must not be applied as is")
        elif name not in listed:
            problems.append(f"deploy/k8s/{name} is not listed in the base kustomization")
    if any(e.startswith("optional") for e in listed):
        problems.append("the base kustomization includes optional/ (KEDA must stay opt-in)")
    return problems


def deployments(repo):
    found = repo.k8s_kind("Deployment")
    if not found:
        raise Failure("no Deployment under deploy/k8s")
    return found


@check("every Deployment's containers have readiness and liveness probes, requests and limits")
def k8s_probes(repo):
    problems = []
    names = set()
    for path, deployment in deployments(repo):
        name = deployment.get("metadata", {}).get("name")
        names.add(name)
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
        if not containers:
            problems.append(f"{path}: {name} has no container")
        for container in containers:
            label = f"{path}: {name}/{container.get('name')}"
            for probe, route in (("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")):
                spec = container.get(probe)
                if not spec:
                    problems.append(f"{label} has no {probe}")
                elif (spec.get("httpGet") or {}).get("path") != route:
                    problems.append(f"{label}: {probe} does not GET {route}")
            resources = container.get("resources") or {}
            for kind in ("requests", "limits"):
                values = resources.get(kind) or {}
                if not values.get("cpu") or not values.get("memory"):
                    problems.append(f"{label} has no resources.{kind} cpu and memory")
    missing = sorted(set(repo.services()) - names)
    if missing:
        problems.append(f"no Deployment for {', '.join(missing)}")
    return problems


@check("Deployments read passerelle-config and passerelle-secrets and run as non-root")
def k8s_config(repo):
    problems = []
    for path, deployment in deployments(repo):
        name = deployment.get("metadata", {}).get("name")
        pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
        pod_context = pod.get("securityContext") or {}
        for container in pod.get("containers") or []:
            label = f"{path}: {name}/{container.get('name')}"
            config_maps = [e.get("configMapRef", {}).get("name") for e in container.get("envFrom") or []]
            if "passerelle-config" not in config_maps:
                problems.append(f"{label} does not take envFrom the ConfigMap passerelle-config")
            secrets = [(e.get("valueFrom") or {}).get("secretKeyRef", {}).get("name") for e in container.get("env") or []]
            secrets += [(e.get("secretRef") or {}).get("name") for e in container.get("envFrom") or []]
            if "passerelle-secrets" not in secrets:
                problems.append(f"{label} reads nothing from the Secret passerelle-secrets")
            context = {**pod_context, **(container.get("securityContext") or {})}
            if context.get("runAsNonRoot") is not True:
                problems.append(f"{label} does not set runAsNonRoot: true")
            if context.get("runAsUser") == 0:
                problems.append(f"{label} runs as uid 0")
    return problems


@check("Kubernetes runs the images as the compose test proved them: their user, a read-only root, /tmp writable, SIGTERM's grace")
def k8s_matches_compose(repo):
    users = [rest for k, rest in dockerfile_instructions(repo.text("deploy/Dockerfile")) if k == "USER"]
    uid = int(users[-1].split(":")[0]) if users and users[-1].split(":")[0].isdigit() else None
    grace = _compose_seconds(repo.compose()["x-passerelle-service"].get("stop_grace_period", "10s"))
    problems = []
    for path, deployment in deployments(repo):
        name = deployment.get("metadata", {}).get("name")
        pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
        if int(pod.get("terminationGracePeriodSeconds", 30)) < grace:
            problems.append(f"{path}: {name} gives less than compose's {grace} s to stop")
        mounts_of = {v.get("name"): v for v in pod.get("volumes") or []}
        for container in pod.get("containers") or []:
            label = f"{path}: {name}/{container.get('name')}"
            context = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
            if uid is not None and context.get("runAsUser") != uid:
                problems.append(f"{label} runs as {context.get('runAsUser')}, the image's user is {uid}")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{label} has a writable root file system (compose runs read_only)")
            if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{label} keeps capabilities (compose drops ALL)")
            tmp = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            if not tmp or "emptyDir" not in (mounts_of.get(tmp[0].get("name")) or {}):
                problems.append(f"{label} has no writable /tmp (compose mounts a tmpfs)")
    return problems


def _compose_seconds(value):
    match = re.fullmatch(r"(\d+)(s|m)?", str(value).strip())
    if not match:
        raise Failure(f"cannot read the duration {value!r}")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def matching_deployment(repo):
    for _, deployment in deployments(repo):
        name = deployment.get("metadata", {}).get("name", "")
        images = [c.get("image", "") for c in deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []]
        if name == "matching" or any("passerelle-matching" in image for image in images):
            return name
    raise Failure("no Deployment runs matching")


@check("the HorizontalPodAutoscaler scales the matching Deployment on CPU")
def k8s_hpa(repo):
    target = matching_deployment(repo)
    hpas = repo.k8s_kind("HorizontalPodAutoscaler")
    if not hpas:
        return ["no HorizontalPodAutoscaler under deploy/k8s"]
    problems = []
    for path, hpa in hpas:
        if hpa.get("apiVersion") != "autoscaling/v2":
            problems.append(f"{path}: apiVersion is {hpa.get('apiVersion')}, expected autoscaling/v2")
        ref = hpa.get("spec", {}).get("scaleTargetRef") or {}
        if ref.get("kind") != "Deployment" or ref.get("name") != target:
            problems.append(f"{path}: scaleTargetRef is {ref.get('kind')}/{ref.get('name')}, expected Deployment/{target}")
        metrics = hpa.get("spec", {}).get("metrics") or []
        if not any((m.get("resource") or {}).get("name") == "cpu" for m in metrics):
            problems.append(f"{path}: no CPU utilisation metric")
    return problems


@check("the optional KEDA ScaledObject targets matching's consumer group and topic")
def k8s_keda(repo):
    objects = repo.k8s_kind("ScaledObject")
    if not objects:
        return []
    target = matching_deployment(repo)
    listed, _ = topics_file(repo)
    problems = []
    for path, scaled in objects:
        if not path.startswith(os.path.join("deploy", "k8s", "optional")):
            problems.append(f"{path}: a ScaledObject belongs in deploy/k8s/optional/")
        spec = scaled.get("spec") or {}
        if (spec.get("scaleTargetRef") or {}).get("name") != target:
            problems.append(f"{path}: scaleTargetRef is not {target}")
        for trigger in spec.get("triggers") or []:
            if trigger.get("type") != "kafka":
                continue
            metadata = trigger.get("metadata") or {}
            if metadata.get("consumerGroup") != "passerelle-matching":
                problems.append(f"{path}: consumerGroup is {metadata.get('consumerGroup')!r}")
            topic = metadata.get("topic")
            if topic not in listed:
                problems.append(f"{path}: topic {topic!r} is not in topics.txt")
            elif spec.get("maxReplicaCount") != listed[topic][0]:
                problems.append(f"{path}: maxReplicaCount {spec.get('maxReplicaCount')} is not {topic}'s {listed[topic][0]} partitions")
            if not metadata.get("lagThreshold"):
                problems.append(f"{path}: no lagThreshold")
            break
        else:
            problems.append(f"{path}: no kafka trigger")
    return problems


# ---- Dockerfile -----------------------------------------------------------------------------

@check("the Dockerfile installs packages from runtime.txt and container-build.txt only")
def dockerfile_package_lists(repo):
    stages = dockerfile_stages(repo.text("deploy/Dockerfile"))
    problems = []
    wanted = {"swift:": "container-build.txt", "ubuntu:": "runtime.txt"}
    for prefix, listing in wanted.items():
        stage = next((s for s in stages if s["base"].startswith(prefix)), None)
        if stage is None:
            problems.append(f"no stage FROM {prefix}...")
            continue
        copied = any(k in ("COPY", "ADD") and f"deploy/packages/{listing}" in rest for k, rest in stage["instructions"])
        # The list must feed the install command itself (e.g. `grep ... list | xargs apt-get
        # install`), not merely be mentioned elsewhere in the same RUN.
        commands = [c for k, rest in stage["instructions"] if k == "RUN" for c in re.split(r"&&|;|\|\|", rest)]
        installs = [c for c in commands if re.search(r"apt(-get)?\s+(-\S+\s+)*install", c)]
        if not copied:
            problems.append(f"the {prefix.rstrip(':')} stage does not copy deploy/packages/{listing}")
        if not any(listing in command for command in installs):
            problems.append(f"the {prefix.rstrip(':')} stage's apt-get install does not read {listing}")
    for expected in ("swift:6.3-noble", "ubuntu:24.04"):
        if not any(s["base"] == expected for s in stages):
            problems.append(f"no stage FROM {expected} by default")
    return problems


@check("the Dockerfile builds with the legacy builder too, and its prebuilt stage precedes the build stage")
def dockerfile_legacy_builder(repo):
    # Docker engines without BuildKit (Debian's docker.io, docker-compose 1.x) build every stage
    # before the target in order, and know no heredocs, cache mounts or --chmod.
    text = repo.text("deploy/Dockerfile")
    problems = []
    if re.search(r"^#\s*syntax=", text, re.M):
        problems.append("a `# syntax=` line makes the builder pull a frontend image from a registry")
    for keyword, rest in dockerfile_instructions(text):
        if keyword in ("RUN", "COPY", "ADD") and re.search(r"--mount=|--chmod=|(?<!<)<<(?!<)", rest):
            problems.append(f"{keyword} {rest[:60]}... uses BuildKit-only syntax")
    names = [s["name"] for s in dockerfile_stages(text)]
    for stage in ("runtime", "prebuilt", "build", "release"):
        if stage not in names:
            problems.append(f"no stage named {stage}")
    if "prebuilt" in names and "build" in names and names.index("prebuilt") > names.index("build"):
        problems.append("the prebuilt stage comes after the build stage, so building it would compile the sources")
    if names and names[-1] != "release":
        problems.append(f"the last stage is {names[-1]!r}, not release")
    return problems


@check("the compose test's override only swaps images and builds, for services the compose file has")
def compose_test_override(repo):
    override = yaml.safe_load(repo.text("deploy/compose/test.override.yml"))
    problems = []
    allowed = {"image", "build", "healthcheck", "entrypoint", "environment", "command", "env_file"}
    for name, service in (override.get("services") or {}).items():
        if name not in repo.compose()["services"]:
            problems.append(f"{name} is not a service of docker-compose.yml")
            continue
        extra = set(service) - allowed
        if extra:
            problems.append(f"{name} overrides {', '.join(sorted(extra))}: the test must run what networks run")
        if not str(service.get("image", "")).startswith(("passerelle-local/", "passerelle-test/")):
            problems.append(f"{name}: image {service.get('image')!r} is not a local stand-in")
    public = {"postgres": "postgres:", "kafka": "apache/kafka:", "mailpit": "axllent/mailpit:"}
    for name, prefix in public.items():
        if not str(repo.service(name).get("image", "")).startswith(prefix):
            problems.append(f"docker-compose.yml's {name} is not the public image {prefix}...")
    return problems


@check("no package of the lists is named by hand in an apt-get line of the Dockerfile")
def dockerfile_no_duplicates(repo):
    packages = package_list(repo, "deploy/packages/runtime.txt") + package_list(repo, "deploy/packages/container-build.txt")
    problems = []
    for keyword, rest in dockerfile_instructions(repo.text("deploy/Dockerfile")):
        if keyword != "RUN" or ("apt-get" not in rest and "apt " not in rest):
            continue
        for package in packages:
            if re.search(rf"(?<![\w.+/-]){re.escape(package)}(?![\w.+-])", rest):
                problems.append(f"{package} is written in the Dockerfile: RUN {rest[:120]}")
    return problems


@check("container-build.txt provides Package.swift's system libraries; the image is non-root with a health check")
def dockerfile_contents(repo):
    problems = []
    wanted = set()
    for group in re.findall(r"\.apt\(\[([^\]]*)\]\)", repo.text("Package.swift")):
        wanted.update(re.findall(r'"([^"]+)"', group))
    missing = sorted(wanted - set(package_list(repo, "deploy/packages/container-build.txt")))
    if missing:
        problems.append(f"container-build.txt lacks {', '.join(missing)} (Package.swift providers)")
    if "pkg-config" not in package_list(repo, "deploy/packages/container-build.txt"):
        problems.append("container-build.txt lacks pkg-config, which SwiftPM uses to find the libraries")
    instructions = dockerfile_instructions(repo.text("deploy/Dockerfile"))
    users = [rest for k, rest in instructions if k == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image does not switch to a non-root USER")
    if not any(k == "HEALTHCHECK" and "/health/live" in rest for k, rest in instructions):
        problems.append("no HEALTHCHECK on /health/live")
    if not any(k == "ENV" and re.search(r"PASSERELLE_HTTP_HOST=0\.0\.0\.0", rest) for k, rest in instructions):
        problems.append("no ENV PASSERELLE_HTTP_HOST=0.0.0.0")
    if not any(k == "EXPOSE" for k, _ in instructions):
        problems.append("no EXPOSE")
    if not any(k == "ARG" and rest.split("=")[0] == "SERVICE" for k, rest in instructions):
        problems.append("no ARG SERVICE")
    # The build stage runs deploy/prebuilt/build.sh, the same script a host uses for --target prebuilt.
    if not any("deploy/prebuilt/build.sh" in rest for k, rest in instructions if k == "RUN") \
            or "--static-swift-stdlib" not in repo.text("deploy/prebuilt/build.sh"):
        problems.append("the build does not link the Swift runtime statically (deploy/prebuilt/build.sh)")
    return problems


# ---- monitoring -------------------------------------------------------------------------------

def served_metric_names(repo):
    """Every metric label the Swift sources register (Counter/Gauge/Timer/Recorder(label: ...))."""
    names = set()
    for top in ("Shared", "Services"):
        for directory, _, files in os.walk(repo.path(top)):
            for name in files:
                if name.endswith(".swift"):
                    with open(os.path.join(directory, name), encoding="utf-8") as handle:
                        names.update(re.findall(r'(?:Counter|Gauge|Timer|Recorder|FloatingPointCounter)\(\s*label:\s*"([a-z_:]+)"', handle.read()))
    return names


@check("every metric the alert rules and the dashboard use is one the services serve")
def monitoring_metrics_exist(repo):
    served = served_metric_names(repo) | {"up"}
    rules = yaml.safe_load(repo.text("deploy/monitoring/alerts.yml"))
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads(repo.text("deploy/monitoring/grafana-dashboard.json"))
    expressions += [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    problems = []
    for expression in expressions:
        for name in set(re.findall(r"\b(passerelle_[a-z_]+|up)\b", expression)):
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if name not in served and base not in served:
                problems.append(f"{name} (in `{expression.strip()[:80]}`) is not a metric any service registers")
    return sorted(set(problems))


@check("the alert rules load in Prometheus and pass their unit tests")
def monitoring_rules(repo):
    promtool = shutil.which("promtool")
    if promtool is None:
        return ["promtool is not installed (deploy/local/install.sh installs Debian's prometheus package)"]
    problems = []
    directory = repo.path("deploy/monitoring")
    for arguments in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run([promtool] + arguments, cwd=directory, capture_output=True, text=True)
        if result.returncode != 0:
            problems.append(f"promtool {' '.join(arguments)}: {(result.stdout + result.stderr).strip()[:1500]}")
    return problems


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 1
    repo = Repo(argv[1])
    passed = failed = 0
    for name, function in CHECKS:
        try:
            problems = function(repo)
        except Failure as error:
            problems = [str(error)]
        except Exception:  # a bug in a check is a failure too, with its trace
            problems = ["check crashed:\n" + traceback.format_exc()]
        if problems:
            failed += 1
            print(f"FAIL {name}")
            for problem in problems:
                print(f"     - {problem}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} checks passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

// The studio page: the editor (Ctrl+Enter runs, "@" completes data source names, recent prompts,
// the schema filter follows the chosen sources) and one execution followed live over its
// WebSocket: progress, the timeline of turns and tool calls, questions and approvals, the SQL,
// the result as a sortable table and a chart, the answer.
//
// The timeline is built from the execution's events only, in seq order: the socket replays the
// stored ones after the last seq this page applied, then sends new ones. A reload starts from 0
// and rebuilds the same timeline; a dropped socket reconnects from the last seq, so nothing is
// lost or shown twice. Who may answer, cancel and approve comes from the server (data attributes,
// and the approval buttons exist only as a <template> the server renders for approvers).
(function () {
  "use strict";

  // --- small helpers ---------------------------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  // el("p", {class: "x", "aria-label": "y"}, ["text", node]): text children are text nodes, never HTML.
  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.append(child instanceof Node ? child : String(child));
    });
    return node;
  }

  function readJson(id) {
    var node = $(id);
    if (!node) return null;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return null;
    }
  }

  function csrfToken() {
    try {
      var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (error) {
      /* fall back to the cookie */
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function plural(count, one, many) {
    return count.toLocaleString() + " " + (count === 1 ? one : many);
  }

  // --- errors in plain words -------------------------------------------------------------------
  // Stable codes of the API, the gateway, the data sources and the pipeline, as sentences. The
  // server's own message, when it adds something, follows the sentence.

  var ERROR_WORDS = {
    not_authenticated: "Your session has ended. Sign in again to go on.",
    permission_denied: "Your role does not allow this.",
    not_found: "This run no longer exists, or it is not shared with you.",
    already_answered: "Someone already answered this request.",
    execution_finished: "This run has already ended.",
    answer_empty: "Write an answer first.",
    not_a_question: "This is an approval request: approve or reject it.",
    not_an_approval: "This is a question: answer it.",
    rate_limited: "You are starting runs too quickly. Wait a moment, then try again.",
    model_budget_exceeded:
      "This workspace has used its model budget for the month. Pick the offline model, or ask an administrator.",
    unknown_model: "That model is not available in this workspace any more. Pick another one.",
    no_result: "This run has no query result to download.",
    network: "The server could not be reached. Check your connection and try again.",
    internal_error: "Something went wrong on the server. Try again; if it keeps happening, tell an administrator.",
    model_unavailable: "The model could not be reached. Try again in a moment, or pick the offline model.",
    model_timeout: "The model did not answer in time. Try again, or pick the offline model.",
    model_rate_limited: "The model is overloaded right now. Try again in a moment.",
    model_auth_failed: "The model refused this workspace's key. An administrator must fix the model settings.",
    model_not_found: "The chosen model does not exist at its provider. Pick another model.",
    model_bad_request: "The model refused the request.",
    model_bad_response: "The model sent a reply that could not be used. Try again.",
    max_turns: "The agent did not finish within the allowed number of steps. Try a narrower question.",
    deadline: "The agent ran out of time. Try a narrower question, or fewer data sources.",
    poison_turn: "A step of this run kept failing, so the run was stopped.",
    cancelled: "The run was cancelled.",
    datasource_unreachable: "The data source could not be reached. It may be down, or its address has changed.",
    datasource_auth_failed: "The data source refused its credentials. An administrator must update them.",
    datasource_not_found: "The data source no longer exists.",
    table_not_found: "A table the agent needed was not found.",
    query_timeout: "The query took too long and was stopped.",
    query_cancelled: "The query was stopped.",
    query_failed: "The query failed on the data source.",
    query_invalid: "The data source could not run this query.",
    query_not_read_only: "Only reading is allowed here, and this statement would change data.",
    sql_parse_error: "The SQL could not be read.",
    sql_multiple_statements: "Only one statement at a time is allowed.",
    sql_statement_not_allowed: "This kind of statement is not allowed by this workspace's safety level.",
    sql_forbidden_function: "The query used a function that is not allowed.",
    sql_forbidden_construct: "The query used a construct that is not allowed.",
    sql_unknown_table: "The query named a table that does not exist or that you may not see.",
    sql_unknown_column: "The query named a column that does not exist or that you may not see.",
    sql_masked_column: "The query used a masked column in a way that would reveal it.",
    approval_required: "This needs an approval before it runs.",
    tool_failed: "A tool failed unexpectedly; the error was logged.",
    invalid_arguments: "The agent called a tool with arguments that do not fit it.",
    outcome_unknown: "An earlier attempt of this step did not finish, so it was not repeated.",
  };

  function explain(code, message) {
    var words = ERROR_WORDS[code];
    if (!words) return message || "Something went wrong (" + (code || "unknown error") + ").";
    return message && message !== words ? words + " " + message : words;
  }

  function ApiFailure(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function api(method, path, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(path, options).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (response.ok) return data;
            var error = (data && data.error) || {};
            throw new ApiFailure(response.status, error.code || "http_" + response.status, error.message || "");
          });
      },
      function () {
        throw new ApiFailure(0, "network", "");
      }
    );
  }

  function failureText(failure) {
    if (failure instanceof ApiFailure) return explain(failure.code, failure.message);
    return explain("internal_error", "");
  }

  // --- SQL highlighting ------------------------------------------------------------------------

  var SQL_KEYWORDS = new Set(
    (
      "select from where group by order having limit offset join left right inner outer full cross on as and or " +
      "not in is null like ilike between case when then else end distinct union all except intersect with insert " +
      "into values update set delete create alter drop table view index asc desc count sum avg min max cast " +
      "coalesce exists true false over partition interval date timestamp returning"
    ).split(" ")
  );
  var SQL_TOKEN =
    /(--[^\n]*|\/\*[\s\S]*?\*\/)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?|`[^`]*`?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_$]*)|(\s+|.)/g;

  function highlightSql(target, sql) {
    target.textContent = "";
    var match;
    SQL_TOKEN.lastIndex = 0;
    while ((match = SQL_TOKEN.exec(sql)) !== null) {
      var text = match[0];
      var kind = match[1]
        ? "sql-comment"
        : match[2]
          ? "sql-string"
          : match[3]
            ? "sql-ident"
            : match[4]
              ? "sql-number"
              : match[5] && SQL_KEYWORDS.has(text.toLowerCase())
                ? "sql-keyword"
                : "";
      target.append(kind ? el("span", { class: kind }, text) : document.createTextNode(text));
    }
  }

  // Top-level clauses on their own lines (whitespace only: the statement is the same).
  var SQL_BREAKS = new Set("from where group order having limit offset union except intersect join inner left right full cross set values returning".split(" "));
  var JOIN_WORDS = new Set(["inner", "left", "right", "full", "cross", "outer", "natural"]);

  function formatSql(sql) {
    if (sql.indexOf("\n") >= 0) return sql; // already laid out by its author
    var out = [];
    var depth = 0;
    var previousWord = "";
    var match;
    SQL_TOKEN.lastIndex = 0;
    while ((match = SQL_TOKEN.exec(sql)) !== null) {
      var text = match[0];
      if (text === "(") depth += 1;
      else if (text === ")") depth = Math.max(0, depth - 1);
      var word = match[5] ? text.toLowerCase() : "";
      var breaks = word && depth === 0 && SQL_BREAKS.has(word) && out.length > 0;
      if (breaks && word === "join" && JOIN_WORDS.has(previousWord)) breaks = false;
      if (breaks && JOIN_WORDS.has(previousWord) && word !== "join") breaks = false; // LEFT OUTER JOIN
      if (breaks) {
        while (out.length && /^\s+$/.test(out[out.length - 1])) out.pop();
        out.push("\n");
      }
      out.push(text);
      if (word) previousWord = word;
    }
    return out.join("");
  }

  function sqlBlock(sql) {
    var code = el("code");
    highlightSql(code, formatSql(sql));
    return el("pre", { class: "sql-inline" }, code);
  }

  // --- the editor ------------------------------------------------------------------------------

  function setUpEditor() {
    var form = $("studio-form");
    var textarea = $("prompt-text");
    if (!form || !textarea) return;

    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    // While a run is being started the Run button says so and a second submit does nothing.
    function setSubmitting(on) {
      var button = $("run-button");
      form.dataset.submitting = on ? "true" : "false";
      if (!button) return;
      if (on) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
      button.firstChild.textContent = on ? "Starting… " : "Run ";
    }
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitting === "true") {
        event.preventDefault();
        return;
      }
      setSubmitting(true);
    });

    // Back to this page from the next one (the browser's page cache): the editor runs again.
    window.addEventListener("pageshow", function () {
      setSubmitting(false);
    });

    // Recent prompts and examples put their text in the editor.
    document.addEventListener("click", function (event) {
      var button = event.target instanceof Element ? event.target.closest("[data-fill-prompt]") : null;
      if (!button) return;
      textarea.value = button.getAttribute("data-fill-prompt");
      textarea.focus();
      textarea.setSelectionRange(textarea.value.length, textarea.value.length);
    });

    setUpSchemaFilter(form);
    setUpMentions(form, textarea);
  }

  // Schemas of the chosen sources only (all when none is chosen); a hidden one is not sent.
  function setUpSchemaFilter(form) {
    var filter = $("schema-filter");
    if (!filter) return;
    function update() {
      var chosen = new Set(
        Array.prototype.map.call(form.querySelectorAll('input[name="datasource"]:checked'), function (box) {
          return box.value;
        })
      );
      var shown = 0;
      filter.querySelectorAll("li[data-datasource]").forEach(function (item) {
        var visible = chosen.size === 0 || chosen.has(item.getAttribute("data-datasource"));
        item.hidden = !visible;
        item.querySelector("input").disabled = !visible;
        if (visible) shown += 1;
      });
      filter.hidden = shown === 0;
    }
    form.addEventListener("change", function (event) {
      if (event.target instanceof HTMLInputElement && event.target.name === "datasource") update();
    });
    update();
  }

  // "@" + the start of a data source's name offers the matching sources; picking one writes its
  // name and ticks it in the data source list.
  function setUpMentions(form, textarea) {
    var list = $("mention-list");
    var status = $("mention-status");
    var sources = readJson("source-names") || [];
    if (!list || sources.length === 0) return;
    var matches = [];
    var active = 0;
    var start = -1;

    function close() {
      list.hidden = true;
      list.textContent = "";
      matches = [];
      start = -1;
      textarea.removeAttribute("aria-activedescendant");
    }

    function render() {
      list.textContent = "";
      matches.forEach(function (source, index) {
        var option = el(
          "li",
          { id: "mention-" + index, role: "option", "aria-selected": index === active ? "true" : "false" },
          source.name
        );
        option.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus in the editor
          pick(index);
        });
        list.append(option);
      });
      list.hidden = matches.length === 0;
      if (matches.length) textarea.setAttribute("aria-activedescendant", "mention-" + active);
    }

    function update() {
      var caret = textarea.selectionStart;
      var before = textarea.value.slice(0, caret);
      var found = /(^|\s)@([^@\n]{0,60})$/.exec(before);
      if (!found) return close();
      var query = found[2].toLowerCase();
      var next = sources.filter(function (source) {
        return source.name.toLowerCase().indexOf(query) === 0;
      });
      if (next.length === 0) return close();
      var opening = list.hidden;
      matches = next;
      start = caret - found[2].length - 1;
      active = Math.min(active, matches.length - 1);
      render();
      if (opening && status) {
        status.textContent =
          plural(matches.length, "data source matches", "data sources match") + "; arrows choose, Enter picks.";
      }
    }

    function pick(index) {
      var source = matches[index];
      if (!source || start < 0) return;
      var caret = textarea.selectionStart;
      var insert = "@" + source.name + " ";
      textarea.value = textarea.value.slice(0, start) + insert + textarea.value.slice(caret);
      var position = start + insert.length;
      textarea.setSelectionRange(position, position);
      var box = form.querySelector('input[name="datasource"][value="' + source.id + '"]');
      if (box && !box.checked) {
        box.checked = true;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
      if (status) status.textContent = source.name + " chosen as a data source.";
      close();
    }

    textarea.addEventListener("input", update);
    textarea.addEventListener("click", update);
    textarea.addEventListener("blur", close);
    textarea.addEventListener("keydown", function (event) {
      if (list.hidden || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        active = (active + step + matches.length) % matches.length;
        render();
      } else if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        pick(active);
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
  }

  // --- one execution -----------------------------------------------------------------------------

  // The words for statuses and phases are the server's (executions.views), so that what the page
  // was rendered with and what the script writes live are the same.
  var WORDS = readJson("execution-words") || { status: {}, phase: {} };
  var STATUS_WORDS = WORDS.status;
  var PHASE_WORDS = WORDS.phase;
  var TOOL_WORDS = {
    classify_intent: "Classify the request",
    search_catalog: "Search the catalog",
    describe_table: "Describe a table",
    run_query: "Run a query",
    ask_user: "Ask you a question",
    request_approval: "Ask for an approval",
    execute_write: "Change data",
    apply_schema_change: "Change the schema",
    create_datasource: "Add a data source",
    refresh_datasource: "Refresh a data source",
    scan_sensitive_data: "Scan for sensitive data",
    propose_policy: "Propose a policy",
    apply_policy: "Apply a policy",
    finish: "Give the answer",
  };
  var TERMINAL_STATUS = { completed: true, failed: true, cancelled: true };
  var TERMINAL = { execution_complete: "completed", execution_failed: "failed", execution_cancelled: "cancelled" };
  var CLOSE_WORDS = {
    4400: "This page asked for the timeline in a way the server does not accept. Reload the page.",
    4401: "Your session has ended. Sign in again to follow this run.",
    4403: "This address may not follow runs live. Open Prompt Studio at its usual address.",
    4404: "This run does not exist, or it is not shared with you.",
  };

  function Execution(root) {
    this.root = root;
    this.detailUrl = root.getAttribute("data-api");
    this.apiBase = this.detailUrl + "/"; // + respond, approve, reject, cancel, rerun
    this.wsPath = root.getAttribute("data-websocket-path");
    this.canChange = root.getAttribute("data-can-change") === "true";
    this.isAuthor = root.getAttribute("data-is-author") === "true";
    this.state = readJson("execution-state") || {};
    this.lastSeq = 0;
    this.progress = 0;
    this.ended = TERMINAL_STATUS[this.state.status] === true;
    this.renderedEnded = this.ended; // the page came with the final state: replayed events only fill the timeline
    this.turns = new Map();
    this.calls = new Map();
    this.interactions = new Map();
    this.socket = null;
    this.feed = null;
    this.retries = 0;
    this.silentFailures = 0;
    this.retryTimer = null;
    this.stopped = false;
    this.timeline = $("timeline");
  }

  // While queued: the position and the expected start, from the API every few seconds.
  function queueText(queue) {
    if (!queue) return "";
    var where = queue.position === 1 ? "Next in the queue" : "Number " + queue.position + " in the queue";
    return where + "; it should start in about " + queue.expected_start_seconds + " s.";
  }
  Execution.prototype.showQueue = function (queue) {
    var line = $("queue-status");
    if (!line) return;
    line.textContent = queueText(queue);
    line.hidden = !queue;
    if (!queue && this.queueTimer) {
      clearInterval(this.queueTimer);
      this.queueTimer = null;
    }
  };
  Execution.prototype.watchQueue = function () {
    var self = this;
    if (!this.state.queue) return;
    this.queueTimer = setInterval(function () {
      api("GET", self.detailUrl).then(
        function (data) {
          self.showQueue(data && data.status === "pending" ? data.queue : null);
        },
        function () {}
      );
    }, 3000);
  };

  Execution.prototype.start = function () {
    var self = this;
    this.setProgress(this.state.phase, this.state.progress || 0);
    this.watchQueue();
    if (this.ended) this.showResult(this.state);
    else if (this.state.sql) this.showSql(this.state.sql);
    var cancel = $("cancel-button");
    if (cancel) cancel.addEventListener("click", this.cancel.bind(this));
    $("rerun-button").addEventListener("click", this.rerun.bind(this));
    $("copy-sql").addEventListener("click", this.copySql.bind(this));
    window.addEventListener("online", function () {
      self.reconnectNow();
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") self.reconnectNow();
    });
    this.connect();
  };

  // --- the socket ---

  // Sockets in a row that closed before the server said anything: a proxy or firewall that does
  // not let WebSockets through. After this many, the page follows the event feed (SSE) instead.
  var SOCKET_FAILURES_BEFORE_FEED = 3;

  Execution.prototype.connect = function () {
    var self = this;
    if (this.stopped || this.socket || this.feed) return;
    if (this.silentFailures >= SOCKET_FAILURES_BEFORE_FEED && window.EventSource) {
      this.followFeed();
      return;
    }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + this.wsPath + "?after_seq=" + this.lastSeq);
    var heard = false;
    this.socket = socket;
    socket.addEventListener("open", function () {
      self.connection("");
    });
    socket.addEventListener("message", function (message) {
      var body;
      if (!heard) {
        heard = true;
        self.retries = 0;
        self.silentFailures = 0;
      }
      try {
        body = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (body.type === "event") self.receive(socket, body.event);
      else if (body.type === "ping") socket.send('{"type": "pong"}');
    });
    socket.addEventListener("close", function (event) {
      if (self.socket === socket) self.socket = null;
      if (self.stopped) return;
      if (!heard && !CLOSE_WORDS[event.code] && event.code !== 4429) self.silentFailures += 1;
      if (CLOSE_WORDS[event.code]) {
        self.stopped = true;
        self.connection(CLOSE_WORDS[event.code], true);
        return;
      }
      var busy = event.code === 4429;
      var delay = Math.min(15000, (busy ? 4000 : 500) * Math.pow(2, self.retries)) * (0.75 + Math.random() / 2);
      self.retries += 1;
      self.connection(
        busy
          ? "This run is open in too many tabs; following it again when one closes…"
          : "The live connection dropped; reconnecting…"
      );
      self.retryTimer = window.setTimeout(function () {
        self.retryTimer = null;
        self.connect();
      }, delay);
    });
  };

  // The event feed: the same events as the socket, as Server-Sent Events, from the last one shown.
  // The browser reconnects by itself (with Last-Event-ID); receive() drops anything seen already.
  Execution.prototype.followFeed = function () {
    var self = this;
    if (this.stopped || this.feed) return;
    var feed = new EventSource(this.apiBase + "events?after_seq=" + this.lastSeq);
    this.feed = feed;
    // receive() closes its source on a gap (start again from the last event) or at the end.
    var source = {
      close: function () {
        feed.close();
        if (self.feed === feed) self.feed = null;
        if (!self.stopped) self.followFeed();
      },
    };
    feed.addEventListener("open", function () {
      self.connection("Following this run over the event feed: this network does not let the live connection through.");
    });
    feed.addEventListener("message", function (message) {
      var event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      self.receive(source, event);
    });
  };

  Execution.prototype.reconnectNow = function () {
    if (this.stopped || this.socket || this.feed) return;
    if (this.retryTimer) window.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  };

  Execution.prototype.connection = function (text, isError) {
    var node = $("connection-status");
    node.textContent = text;
    node.classList.toggle("error", !!isError);
  };

  Execution.prototype.receive = function (socket, event) {
    if (event.seq <= this.lastSeq) return; // applied already
    if (event.seq !== this.lastSeq + 1) {
      // A gap (never expected: the server fills them): start again from the last applied event.
      socket.close(4000, "gap");
      return;
    }
    this.lastSeq = event.seq;
    $("timeline-empty").hidden = true;
    this.apply(event);
    if (TERMINAL[event.type]) {
      this.stopped = true;
      socket.close(1000, "done");
    }
  };

  // --- events ---

  Execution.prototype.apply = function (event) {
    var p = event.payload || {};
    switch (event.type) {
      case "execution.created":
        this.entry(event, "Queued for a worker.");
        break;
      case "execution.started":
        this.entry(event, "A worker started the run.");
        this.setStatus("running");
        this.showQueue(null);
        break;
      case "progress":
        this.setProgress(p.phase, p.percentage);
        break;
      case "turn.started":
        this.turn(p.turn, event);
        break;
      case "model.responded":
        this.modelResponded(p);
        break;
      case "model.retrying":
        this.line(
          this.turn(p.turn).list,
          "retry",
          "The model did not answer (" +
            explain(p.code, "") +
            ") Trying again in " +
            p.delay_seconds +
            " s (attempt " +
            p.attempt +
            ")."
        );
        break;
      case "tool.requested":
        this.toolRequested(p);
        break;
      case "tool.completed":
      case "tool.denied":
      case "tool.failed":
        this.toolDone(event.type, p);
        break;
      case "user_interaction_required":
      case "approval_required":
        this.interactionOpened(event.type, p);
        break;
      case "user.responded":
        this.interactionClosed(p);
        break;
      case "execution_complete":
      case "execution_failed":
      case "execution_cancelled":
        this.finished(event, p);
        break;
      default:
        break; // a type this page does not know yet: the timeline skips it
    }
  };

  Execution.prototype.time = function (event) {
    var when = new Date(event.created_at);
    return el("time", { datetime: event.created_at, class: "muted" }, isNaN(when) ? "" : when.toLocaleTimeString());
  };

  Execution.prototype.entry = function (event, text, className) {
    var item = el("li", { class: "entry " + (className || "") }, [this.time(event), " ", text]);
    this.timeline.append(item);
    return item;
  };

  Execution.prototype.line = function (list, className, content) {
    var item = el("li", { class: "note " + className }, content);
    list.append(item);
    return item;
  };

  Execution.prototype.turn = function (index, event) {
    var found = this.turns.get(index);
    if (found) return found;
    var title = index === 0 ? "Step 0 · reading the catalog" : "Step " + index;
    var meta = el("span", { class: "muted turn-meta" });
    var list = el("ol", { class: "calls" });
    var item = el("li", { class: "turn" }, [
      el("div", { class: "turn-head" }, [el("h4", {}, title), event ? this.time(event) : null, meta]),
      list,
    ]);
    this.timeline.append(item);
    if (index === 0) this.line(list, "", "Matching the question to the tables you may see, and the policies that apply to you.");
    found = { item: item, list: list, meta: meta };
    this.turns.set(index, found);
    return found;
  };

  Execution.prototype.modelResponded = function (p) {
    var turn = this.turn(p.turn);
    var model = p.provider === "offline" ? "the offline model" : p.model || "the model";
    turn.meta.textContent = "· " + model + (p.latency_ms !== undefined ? ", " + Math.round(p.latency_ms) + " ms" : "");
    if (p.content) this.line(turn.list, "thought", [el("span", { class: "sr-only" }, "The model says: "), p.content]);
  };

  function argumentsSummary(tool, args) {
    args = args || {};
    if (tool === "finish") return null; // the answer has its own section
    if (typeof args.sql === "string") return sqlBlock(args.sql);
    var parts = [];
    ["intent", "query", "table", "table_name", "schema_name", "question", "answer", "reason"].forEach(function (key) {
      if (typeof args[key] === "string" && args[key]) parts.push(key === "answer" ? args[key] : key + ": " + args[key]);
    });
    if (Array.isArray(args.choices) && args.choices.length) parts.push("choices: " + args.choices.join(", "));
    if (parts.length === 0) return null;
    return el("p", { class: "args" }, parts.join(" · "));
  }

  Execution.prototype.toolRequested = function (p) {
    var badge = el("span", { class: "badge running" }, "running");
    var details = el("div", { class: "call-details" }, argumentsSummary(p.tool, p.arguments));
    var item = el("li", { class: "call" }, [
      el("div", { class: "call-head" }, [
        el("span", { class: "tool" }, TOOL_WORDS[p.tool] || p.tool),
        " ",
        el("code", { class: "muted" }, p.tool),
        " ",
        badge,
      ]),
      details,
    ]);
    this.turn(p.turn).list.append(item);
    this.calls.set(p.tool_call_id, {
      item: item,
      badge: badge,
      details: details,
      sql: (p.arguments || {}).sql,
      tool: p.tool,
    });
  };

  Execution.prototype.call = function (p) {
    if (!this.calls.has(p.tool_call_id)) this.toolRequested(p); // never expected: requested comes first
    return this.calls.get(p.tool_call_id);
  };

  function setBadge(badge, className, text) {
    badge.className = "badge " + className;
    badge.textContent = text;
  }

  // A tool call that did not run: its badge (class and word), the note's class and its lead-in.
  var TOOL_SETBACKS = {
    "tool.denied": { badge: "denied", note: "denial", lead: "Not allowed: " },
    "tool.failed": { badge: "failed", note: "failure", lead: "Failed: " },
  };

  Execution.prototype.toolDone = function (type, p) {
    var call = this.call(p);
    var setback = TOOL_SETBACKS[type];
    if (setback) {
      setBadge(call.badge, setback.badge, setback.badge);
      call.details.append(el("p", { class: setback.note }, [el("strong", {}, setback.lead), explain(p.code, p.message)]));
      return;
    }
    setBadge(call.badge, "ok", "done");
    var facts = [];
    if (p.intent && call.tool !== "classify_intent") facts.push("intent: " + p.intent);
    if (typeof p.rows_returned === "number") {
      facts.push(call.tool === "execute_write" ? plural(p.rows_returned, "row changed", "rows changed") :
        plural(p.rows_returned, "row", "rows"));
    }
    if (facts.length) call.details.append(el("p", { class: "facts muted" }, facts.join(" · ")));
    if (p.sql && p.sql !== call.sql) {
      call.details.append(
        el("details", { class: "rewritten" }, [el("summary", {}, "As it ran, after the governance rewrite"), sqlBlock(p.sql)])
      );
    }
    if (p.sql && call.tool === "run_query" && !this.ended) this.showSql(p.sql);
    if (call.tool === "run_query") this.showGovernance(p);
  };

  // What governance did to the rows of the last query: masked columns (and why), notices.
  Execution.prototype.showGovernance = function (p) {
    var box = $("result-governance");
    if (!box) return;
    box.textContent = "";
    var masked = p.masked || [];
    var notices = p.notices || [];
    if (masked.length) {
      box.append(
        el("p", { class: "label" }, "Masked for you"),
        el(
          "ul",
          {},
          masked.map(function (m) {
            return el("li", {}, [el("code", {}, m.table + "." + m.column), ": " + m.reason + "."]);
          })
        )
      );
    }
    notices.forEach(function (notice) {
      box.append(el("p", { class: "notice" }, notice));
    });
    box.hidden = !(masked.length || notices.length);
  };

  // --- questions and approvals ---

  Execution.prototype.interactionOpened = function (type, p) {
    var call = this.call(p);
    var approval = type === "approval_required";
    setBadge(call.badge, "waiting_for_user", approval ? "waiting for approval" : "waiting for an answer");
    var card = approval ? this.approvalCard(p) : this.questionCard(p);
    this.interactions.set(p.interaction_id, { card: card, call: call, approval: approval });
    if (!this.ended) {
      $("interactions").append(card);
      this.setStatus("waiting_for_user");
    }
  };

  Execution.prototype.questionCard = function (p) {
    var self = this;
    var titleId = "question-" + p.interaction_id;
    var card = el("section", { class: "interaction question", "aria-labelledby": titleId }, [
      el("h3", { id: titleId }, "The agent asks"),
      el("p", { class: "question-text" }, p.question),
    ]);
    if (!(this.canChange || this.isAuthor)) {
      card.append(el("p", { class: "muted" }, "Waiting for the person who started this run to answer."));
      return card;
    }
    var error = el("p", { class: "error", role: "alert" });
    var input = el("input", { type: "text", name: "text", maxlength: "4000", autocomplete: "off", id: "answer-" + p.interaction_id });
    var submit = el("button", { type: "submit", class: "primary" }, "Answer");
    var form = el("form", { class: "answer-form" }, [
      el("label", { for: "answer-" + p.interaction_id }, (p.choices || []).length ? "Or write your answer" : "Your answer"),
      el("div", { class: "answer-row" }, [input, submit]),
    ]);
    function send(text) {
      self.post(card, error, "respond", { interaction_id: p.interaction_id, text: text }, "Answer sent. The run goes on.");
    }
    if ((p.choices || []).length) {
      var choices = el("div", { class: "choices", role: "group", "aria-label": "Choices" });
      p.choices.forEach(function (choice) {
        var button = el("button", { type: "button" }, choice);
        button.addEventListener("click", function () {
          send(choice);
        });
        choices.append(button);
      });
      card.append(choices);
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!input.value.trim()) {
        error.textContent = ERROR_WORDS.answer_empty;
        input.focus();
        return;
      }
      send(input.value);
    });
    card.append(form, error);
    return card;
  };

  function previewTable(columns, rows) {
    var table = el("table", { class: "data compact" });
    table.append(el("thead", {}, el("tr", {}, columns.map(function (column) {
      return el("th", { scope: "col" }, column);
    }))));
    table.append(el("tbody", {}, rows.map(function (row) {
      return el("tr", {}, row.map(function (value) {
        return el("td", {}, value === null ? "null" : String(value));
      }));
    })));
    return el("div", { class: "table-wrap" }, table);
  }

  Execution.prototype.approvalCard = function (p) {
    var self = this;
    var details = p.details || {};
    var preview = details.preview || {};
    var statement = preview.statement || details.sql || "";
    var titleId = "approval-" + p.interaction_id;
    var card = el("section", { class: "interaction approval", "aria-labelledby": titleId }, [
      el("h3", { id: titleId }, "Approval needed"),
      el("p", {}, p.question),
    ]);
    if (statement) card.append(el("p", { class: "label" }, "Statement"), sqlBlock(statement));
    if (preview.error) {
      card.append(el("p", { class: "error" }, "The dry run failed: " + explain(preview.error.code, preview.error.message)));
    }
    if (typeof preview.rows_affected === "number") {
      card.append(el("p", {}, [el("strong", {}, plural(preview.rows_affected, "row", "rows")), " would be affected."]));
    }
    if (preview.note) card.append(el("p", { class: "muted" }, preview.note));
    if ((preview.columns || []).length && (preview.rows || []).length) card.append(previewTable(preview.columns, preview.rows));
    var template = $("approval-actions");
    if (!template) {
      card.append(
        el(
          "p",
          { class: "muted" },
          this.isAuthor
            ? "An approver other than you (an owner or an administrator, unless the workspace's rules say otherwise) must decide this. The run waits until then."
            : "Your role does not allow you to decide this. An approver of this workspace must decide it."
        )
      );
      return card;
    }
    var actions = template.content.cloneNode(true).firstElementChild;
    var comment = actions.querySelector('input[name="comment"]');
    var error = el("p", { class: "error", role: "alert" });
    actions.querySelectorAll("[data-decision]").forEach(function (button) {
      button.addEventListener("click", function () {
        var decision = button.getAttribute("data-decision");
        self.post(
          actions,
          error,
          decision,
          { interaction_id: p.interaction_id, comment: comment.value },
          decision === "approve" ? "Approved. The run goes on." : "Rejected. The run goes on without it."
        );
      });
    });
    card.append(actions, error);
    return card;
  };

  // Sends an answer or a decision: the buttons in scope wait for the reply; on success the
  // announcement is read out, on failure the error says why and the buttons work again.
  Execution.prototype.post = function (scope, error, action, body, announcement) {
    var self = this;
    function enable(on) {
      scope.querySelectorAll("button").forEach(function (button) {
        button.disabled = !on;
      });
    }
    error.textContent = "";
    enable(false);
    api("POST", this.apiBase + action, body).then(
      function () {
        self.announce(announcement);
      },
      function (failure) {
        error.textContent = failureText(failure);
        enable(true);
      }
    );
  };

  Execution.prototype.interactionClosed = function (p) {
    var interaction = this.interactions.get(p.interaction_id);
    if (!interaction) return;
    this.interactions.delete(p.interaction_id);
    interaction.card.remove();
    var by = p.by || "someone";
    var text;
    if (p.decision) {
      var approved = p.decision === "approved";
      setBadge(interaction.call.badge, approved ? "ok" : "denied", approved ? "approved" : "rejected");
      text = (approved ? "Approved by " : "Rejected by ") + by + (p.comment ? ": " + p.comment : ".");
    } else {
      setBadge(interaction.call.badge, "ok", "answered");
      text = "Answered by " + by + ": " + (p.answer || "");
    }
    interaction.call.details.append(el("p", { class: "response" }, text));
    var stillOpen = Array.from(this.interactions.values()).some(function (open) {
      return open.card.isConnected;
    });
    if (!stillOpen) this.setStatus("running");
  };

  // --- the end ---

  Execution.prototype.finished = function (event, p) {
    var status = TERMINAL[event.type];
    this.interactions.forEach(function (open) {
      open.card.remove();
    });
    this.interactions.clear();
    var text = {
      completed: "Finished" + (typeof p.total_duration_ms === "number" ? " in " + (p.total_duration_ms / 1000).toFixed(1) + " s." : "."),
      failed: "Stopped: " + explain(p.code, p.message),
      cancelled: "Cancelled.",
    }[status];
    this.entry(event, text, "end " + status);
    var cancel = $("cancel-button");
    if (cancel) cancel.hidden = true;
    if (this.ended) return; // the page was rendered with the result already
    // This run in the recent prompts: its status as it is now.
    document.querySelectorAll('.recent a[href="' + location.pathname + '"] .recent-status').forEach(function (node) {
      node.textContent = STATUS_WORDS[status];
    });
    this.ended = true;
    this.setStatus(status);
    if (status === "completed") {
      this.setProgress("done", 100);
      if (p.answer) this.showAnswer(p.answer);
      this.loadResult();
    } else if (status === "failed") {
      this.showError(p.code, p.message);
      this.loadResult();
    }
    this.announce({ completed: "The run finished.", failed: "The run stopped.", cancelled: "The run was cancelled." }[status]);
  };

  Execution.prototype.loadResult = function () {
    var self = this;
    api("GET", this.detailUrl).then(
      function (detail) {
        var columns = detail.result_columns || [];
        self.showResult({
          status: detail.status,
          sql: detail.generated_query_text,
          columns: columns,
          rows: (detail.result_preview || []).map(function (row) {
            return columns.map(function (column) {
              return row[column];
            });
          }),
          rows_returned: detail.rows_returned,
          truncated: detail.result_truncated,
          answer: (detail.final_data || {}).answer || "",
          error_code: detail.error_code,
          error_message: detail.error_message,
        });
      },
      function (failure) {
        self.showError("", "The result could not be loaded: " + failureText(failure) + " Reload the page to try again.");
      }
    );
  };

  // --- what the page shows ---

  Execution.prototype.setStatus = function (status) {
    if (this.ended && !TERMINAL_STATUS[status]) return;
    setBadge($("execution-status"), status, STATUS_WORDS[status] || status);
  };
  Execution.prototype.setProgress = function (phase, percentage) {
    var value = Math.max(this.progress, Math.min(100, Number(percentage) || 0));
    if (this.renderedEnded) {
      value = Math.max(value, this.state.progress || 0);
      phase = this.state.phase;
    }
    this.progress = value;
    var bar = $("progress-bar");
    bar.setAttribute("aria-valuenow", String(value));
    $("progress-fill").style.width = value + "%";
    var label = PHASE_WORDS[phase] || phase || "";
    $("progress-label").textContent = label + " · " + value + "%";
  };

  Execution.prototype.showError = function (code, message) {
    var box = $("execution-error");
    box.textContent = code === "cancelled" ? ERROR_WORDS.cancelled : explain(code, message);
    box.hidden = false;
  };

  Execution.prototype.showAnswer = function (answer) {
    $("answer-text").textContent = answer;
    $("answer").hidden = !answer;
  };

  Execution.prototype.showSql = function (sql) {
    highlightSql($("sql-code"), formatSql(sql));
    $("sql").hidden = !sql;
  };

  Execution.prototype.showResult = function (state) {
    if (state.answer) this.showAnswer(state.answer);
    if (state.sql) this.showSql(state.sql);
    if (state.status === "failed" && (state.error_code || state.error_message)) {
      this.showError(state.error_code, state.error_message);
    }
    var columns = state.columns || [];
    if (columns.length === 0) return;
    var rows = state.rows || [];
    var total = typeof state.rows_returned === "number" ? state.rows_returned : rows.length;
    var text =
      total > rows.length
        ? "Showing the first " + rows.length.toLocaleString() + " of " + plural(total, "row", "rows") + "; the download has them all."
        : plural(total, "row", "rows");
    if (state.truncated) {
      // The query had more rows than the row cap: say so, never let the count pass for the whole.
      text += " The query has more rows than the limit of " + total.toLocaleString() +
        " a result may hold: the result and its downloads stop there. Narrow the question to see the rest.";
    }
    $("row-count").textContent = text;
    $("download-csv").hidden = $("download-parquet").hidden = !state.sql;
    $("result").hidden = false;
    var kinds = columnKinds(columns, rows);
    var table = new ResultTable($("result-table"), columns, rows, kinds);
    table.render();
    drawChart(columns, rows, kinds);
    var more = $("show-all-rows");
    more.hidden = !(state.sql && total > rows.length);
    more.onclick = function () {
      loadAllRows(table, total, state.truncated);
    };
  };

  // The answer holds the first rows; the whole result (up to the row cap) is the governed CSV
  // download, run again as the person who looks, and the table pages through it.
  function loadAllRows(table, total, truncated) {
    var more = $("show-all-rows");
    more.disabled = true;
    more.textContent = "Loading " + plural(total, "row", "rows") + "…";
    fetch($("download-csv").getAttribute("href"), { credentials: "same-origin", headers: { Accept: "text/csv" } })
      .then(function (response) {
        return response.text().then(function (body) {
          if (!response.ok) {
            var error = {};
            try {
              error = JSON.parse(body).error || {};
            } catch (ignored) {
              error = {};
            }
            throw new ApiFailure(response.status, error.code || "http_" + response.status, error.message || "");
          }
          return body;
        });
      }, function () {
        throw new ApiFailure(0, "network", "");
      })
      .then(function (body) {
        var records = parseCsv(body);
        var header = records.shift() || [];
        var rows = records.map(function (record) {
          return table.columns.map(function (column, index) {
            var at = header.indexOf(column);
            var value = record[at < 0 ? index : at];
            return value === "" || value === undefined ? null : value;
          });
        });
        table.replaceRows(rows);
        more.hidden = true;
        var text = "All " + plural(rows.length, "row", "rows") + ", " + table.pageSize.toLocaleString() + " a page.";
        if (truncated) text += " The query has more: a result stops at the row cap.";
        $("row-count").textContent = text;
      })
      .catch(function (failure) {
        more.disabled = false;
        more.textContent = "Show all rows";
        $("row-count").textContent = "The rows could not be loaded: " + failureText(failure);
      });
  }

  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks.
  function parseCsv(text) {
    var records = [];
    var record = [];
    var field = "";
    var quoted = false;
    for (var i = 0; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') {
          quoted = false;
        } else {
          field += c;
        }
      } else if (c === '"') {
        quoted = true;
      } else if (c === ",") {
        record.push(field);
        field = "";
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        record.push(field);
        records.push(record);
        record = [];
        field = "";
      } else {
        field += c;
      }
    }
    if (field !== "" || record.length) {
      record.push(field);
      records.push(record);
    }
    return records;
  }

  Execution.prototype.copySql = function () {
    var self = this;
    var sql = $("sql-code").textContent;
    function copied() {
      self.announce("SQL copied to the clipboard.");
      var button = $("copy-sql");
      button.textContent = "Copied";
      window.setTimeout(function () {
        button.textContent = "Copy SQL";
      }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(sql).then(copied, function () {
        self.announce("The browser did not allow copying; select the SQL and copy it by hand.");
      });
      return;
    }
    var range = document.createRange();
    range.selectNodeContents($("sql-code"));
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    if (document.execCommand("copy")) copied();
    else self.announce("Press Ctrl+C to copy the selected SQL.");
  };

  Execution.prototype.announce = function (text) {
    $("action-status").textContent = text;
  };

  // A button that POSTs an action on this run: disabled while it is sent, enabled again (with
  // the error shown) when it fails; done gets the server's reply.
  Execution.prototype.command = function (id, action, done) {
    var self = this;
    var button = $(id);
    button.disabled = true;
    api("POST", this.apiBase + action).then(done, function (failure) {
      button.disabled = false;
      self.showError(failure.code, failure.message);
    });
  };

  Execution.prototype.cancel = function () {
    var self = this;
    this.command("cancel-button", "cancel", function () {
      self.announce("Cancelling…");
    });
  };

  Execution.prototype.rerun = function () {
    this.command("rerun-button", "rerun", function (execution) {
      location.assign("/executions/" + execution.id + "/");
    });
  };

  // --- the result table: sortable by any column ----------------------------------------------

  var NUMBER = /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i;
  var DATE = /^\d{4}-\d{2}(-\d{2})?([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

  function kindOf(values) {
    var present = values.filter(function (value) {
      return value !== null && value !== undefined && value !== "";
    });
    if (present.length === 0) return "empty";
    if (present.every(function (value) {
      return typeof value === "number" || (typeof value === "string" && NUMBER.test(value));
    })) return "number";
    if (present.every(function (value) {
      return typeof value === "string" && DATE.test(value);
    })) return "date";
    return "text";
  }

  // The kind of each column, from its values in every row.
  function columnKinds(columns, rows) {
    return columns.map(function (_, index) {
      return kindOf(rows.map(function (row) {
        return row[index];
      }));
    });
  }

  function ResultTable(table, columns, rows, kinds) {
    this.table = table;
    this.columns = columns;
    this.rows = rows.slice();
    this.kinds = kinds;
    this.sortColumn = -1;
    this.ascending = true;
    this.pageSize = 100;
    this.page = 0;
  }

  ResultTable.prototype.replaceRows = function (rows) {
    this.rows = rows;
    this.sortColumn = -1;
    this.page = 0;
    this.render();
  };

  ResultTable.prototype.pages = function () {
    return Math.max(1, Math.ceil(this.rows.length / this.pageSize));
  };

  ResultTable.prototype.showPage = function (page) {
    this.page = Math.max(0, Math.min(this.pages() - 1, page));
    this.render();
  };

  // Below the table: which rows are shown, and the way to the others.
  ResultTable.prototype.renderPager = function () {
    var self = this;
    var pager = $("result-pager");
    pager.textContent = "";
    pager.hidden = this.pages() < 2;
    if (pager.hidden) return;
    var first = this.page * this.pageSize;
    var last = Math.min(this.rows.length, first + this.pageSize);
    function step(label, page, disabled) {
      var button = el("button", { type: "button", disabled: disabled }, label);
      button.addEventListener("click", function () {
        self.showPage(page);
      });
      return button;
    }
    pager.append(
      step("Previous", this.page - 1, this.page === 0),
      el("span", { id: "result-page" }, "Rows " + (first + 1).toLocaleString() + "–" + last.toLocaleString() +
        " of " + this.rows.length.toLocaleString()),
      step("Next", this.page + 1, this.page >= this.pages() - 1)
    );
  };

  ResultTable.prototype.render = function () {
    var self = this;
    this.table.textContent = "";
    var head = el("tr", {}, this.columns.map(function (column, index) {
      var sorted = self.sortColumn === index;
      var button = el("button", { type: "button", class: "sort" }, [
        column,
        el("span", { "aria-hidden": "true", class: "sort-mark" }, sorted ? (self.ascending ? " ▲" : " ▼") : ""),
      ]);
      button.addEventListener("click", function () {
        self.sortBy(index);
      });
      return el("th", {
        scope: "col",
        class: self.kinds[index] === "number" ? "num" : "",
        "aria-sort": sorted ? (self.ascending ? "ascending" : "descending") : "none",
      }, button);
    }));
    var shown = this.rows.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize);
    var body = el("tbody", {}, shown.map(function (row) {
      return el("tr", {}, row.map(function (value, index) {
        var empty = value === null || value === undefined;
        return el("td", { class: (self.kinds[index] === "number" ? "num" : "") + (empty ? " null" : "") },
          empty ? "null" : typeof value === "object" ? JSON.stringify(value) : String(value));
      }));
    }));
    this.table.append(el("caption", { class: "sr-only" }, "Result rows; the column headers sort them."), el("thead", {}, head), body);
    this.renderPager();
  };

  ResultTable.prototype.sortBy = function (index) {
    this.ascending = this.sortColumn === index ? !this.ascending : true;
    this.sortColumn = index;
    var numeric = this.kinds[index] === "number";
    var direction = this.ascending ? 1 : -1;
    this.rows.sort(function (a, b) {
      var x = a[index];
      var y = b[index];
      if (x === null || x === undefined) return 1; // nulls last, either way
      if (y === null || y === undefined) return -1;
      if (numeric) return (Number(x) - Number(y)) * direction;
      return String(x).localeCompare(String(y), undefined, { numeric: true }) * direction;
    });
    this.page = 0;
    this.render();
    var header = this.table.querySelectorAll("th button")[index];
    if (header) header.focus();
  };

  // --- the chart: a category and a measure ----------------------------------------------------

  var MAX_BARS = 40;
  var chart = null;

  function chartSpec(columns, rows, kinds) {
    if (rows.length < 2 || typeof window.uPlot !== "function") return null;
    var category = kinds.indexOf("date");
    if (category < 0) category = kinds.indexOf("text");
    if (category < 0) return null;
    var measure = -1;
    kinds.forEach(function (kind, index) {
      if (kind === "number" && index !== category && !/(^id$|_id$)/i.test(columns[index])) measure = index;
    });
    if (measure < 0) return null;
    return { category: category, measure: measure, line: kinds[category] === "date" };
  }

  function drawChart(columns, rows, kinds) {
    var figure = $("chart");
    var target = $("chart-canvas");
    if (chart) {
      chart.destroy();
      chart = null;
    }
    var spec = chartSpec(columns, rows, kinds);
    if (!spec) {
      figure.hidden = true;
      return;
    }
    var uPlot = window.uPlot;
    var categoryName = columns[spec.category];
    var measureName = columns[spec.measure];
    var kept = rows.filter(function (row) {
      return row[spec.measure] !== null && row[spec.category] !== null;
    });
    var xs;
    var ys;
    var labels = [];
    var caption;
    if (spec.line) {
      var points = kept.map(function (row) {
        var text = String(row[spec.category]);
        var time = Date.parse(text.length === 7 ? text + "-01" : text) / 1000;
        return [time, Number(row[spec.measure])];
      }).filter(function (point) {
        return !isNaN(point[0]);
      }).sort(function (a, b) {
        return a[0] - b[0];
      });
      xs = points.map(function (point) { return point[0]; });
      ys = points.map(function (point) { return point[1]; });
      caption = "Line chart of " + measureName + " over " + categoryName + ".";
    } else {
      var shown = kept.slice(0, MAX_BARS);
      labels = shown.map(function (row) { return String(row[spec.category]); });
      xs = shown.map(function (_, index) { return index; });
      ys = shown.map(function (row) { return Number(row[spec.measure]); });
      caption = "Bar chart of " + measureName + " by " + categoryName +
        (kept.length > MAX_BARS ? ", the first " + MAX_BARS + " rows." : ".");
    }
    if (xs.length < 2) {
      figure.hidden = true;
      return;
    }
    figure.hidden = false;
    $("chart-caption").textContent = caption + " The table below has the same numbers.";
    target.setAttribute("role", "img");
    target.setAttribute("aria-label", caption);
    var rotate = labels.length > 6;
    var options = {
      width: Math.max(280, target.clientWidth || figure.clientWidth || 600),
      height: 280,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: spec.line } },
      scales: {
        x: spec.line ? { time: true } : { time: false, range: function (u, min, max) { return [min - 0.6, max + 0.6]; } },
        y: { range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.08 : 1]; } },
      },
      axes: [
        spec.line ? { stroke: "#5b6475" } : {
          stroke: "#5b6475",
          grid: { show: false },
          ticks: { show: false },
          splits: function () { return xs; },
          values: function (u, splits) {
            return splits.map(function (index) {
              var label = labels[index];
              if (label === undefined) return "";
              return label.length > 14 ? label.slice(0, 13) + "…" : label;
            });
          },
          rotate: rotate ? -40 : 0,
          size: rotate ? 90 : 40,
        },
        {
          stroke: "#5b6475",
          size: 64,
          values: function (u, splits) {
            return splits.map(function (value) { return value.toLocaleString(); });
          },
        },
      ],
      series: [
        {},
        spec.line
          ? { label: measureName, stroke: "#2f5bea", width: 2, fill: "rgba(47, 91, 234, 0.10)" }
          : {
              label: measureName,
              stroke: "#2f5bea",
              width: 1,
              fill: "rgba(47, 91, 234, 0.65)",
              paths: uPlot.paths.bars({ size: [0.7, 64] }),
              points: { show: false },
            },
      ],
    };
    chart = new uPlot(options, [xs, ys], target);
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        if (chart && target.clientWidth) chart.setSize({ width: target.clientWidth, height: 280 });
      }).observe(target);
    }
  }

  // --- start ---

  function start() {
    setUpEditor();
    var root = $("execution");
    if (root) new Execution(root).start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

import Foundation
import Mustache

/// The console's pages: server-rendered HTML from Mustache templates, no script, one stylesheet.
/// Every value is HTML-escaped by Mustache (`{{…}}`); only the page body, itself rendered from a
/// template, goes in unescaped (`{{{body}}}`).
struct Pages: Sendable {
    let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        for (name, template) in Self.templates { try library.register(template, named: name) }
        self.library = library
    }

    /// The page `name` inside the layout; `context` is the page's own values.
    func render(_ name: String, title: String, language: Language, session: ConsoleSession?, path: String, context: [String: Any]) -> String {
        var values = context
        let t = Translations.strings(language)
        values["t"] = t
        if let session { values["csrf"] = session.csrfToken }
        let body = library.render(values, withTemplate: name) ?? ""
        var layout: [String: Any] = [
            "t": t, "lang": language.rawValue, "title": title, "body": body, "path": path,
            "languages": Language.allCases.map { ["code": $0.rawValue, "name": $0 == .fr ? "Français" : "English", "selected": $0 == language] },
        ]
        if let session {
            layout["user"] = ["name": session.displayName, "site": session.site ?? ""]
            layout["csrf"] = session.csrfToken
        }
        return library.render(layout, withTemplate: "layout") ?? ""
    }

    static let stylesheet = """
        :root{--ink:#1b1b1b;--muted:#4a4a4a;--line:#c9c9c9;--brand:#0b4f8a;--brand-ink:#fff;--bg:#fff;--soft:#f3f6f9;--urgent:#8a1c1c;--ok:#1d5e20;--focus:#b35c00}
        *{box-sizing:border-box}body{margin:0;font:1rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
        a{color:var(--brand)}:focus-visible{outline:3px solid var(--focus);outline-offset:2px}
        .skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}
        header{background:var(--brand);color:var(--brand-ink);padding:.75rem 1rem;display:flex;flex-wrap:wrap;gap:.75rem;align-items:center;justify-content:space-between}
        header a,header .app{color:var(--brand-ink);font-weight:700;text-decoration:none}header form{display:inline-flex;gap:.5rem;align-items:center;margin:0}
        header label{font-size:.9rem}header select,header button{font-size:.95rem;padding:.3rem .5rem}
        main{max-width:72rem;margin:0 auto;padding:1rem}h1{font-size:1.6rem;margin:.5rem 0 1rem}h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
        table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line);vertical-align:top}
        th{background:var(--soft)}caption{text-align:left;font-weight:600;padding:.25rem 0}
        .urgent{color:var(--urgent);font-weight:700}.flag{display:inline-block;background:var(--urgent);color:#fff;border-radius:3px;padding:0 .4rem;font-size:.9rem}
        .due{color:var(--muted);font-size:.9rem}.pager{display:inline-block;margin:.5rem 1rem .5rem 0;padding:.5rem 0;min-height:44px}
        .filter{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}.filter select{font:inherit;padding:.4rem}.counts{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0}
        .counts li{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:.4rem .7rem}
        .notice{border-left:4px solid var(--ok);background:#eef6ee;padding:.5rem 1rem}.problem{border-left:4px solid var(--urgent);background:#fbeeee;padding:.5rem 1rem}
        .actions{display:grid;grid-template-columns:repeat(auto-fill,minmax(16rem,1fr));gap:1rem}
        .actions form{border:1px solid var(--line);border-radius:6px;padding:.75rem}.actions label{display:block;font-weight:600;margin:.25rem 0}
        .actions textarea{width:100%;min-height:4rem;font:inherit;padding:.4rem}
        button{font:inherit;padding:.55rem 1rem;border-radius:4px;border:1px solid var(--brand);background:var(--brand);color:var(--brand-ink);cursor:pointer;min-height:44px}
        button.secondary{background:#fff;color:var(--brand)}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
        @media (max-width:40rem){table.list thead{display:none}table.list tr{display:block;border-bottom:1px solid var(--line);padding:.5rem 0}
        table.list td{display:block;border:0;padding:.15rem .5rem}table.list td::before{content:attr(data-label) " : ";font-weight:600}}
        """

    static let templates: [String: String] = [
        "layout": """
        <!doctype html>
        <html lang="{{lang}}">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} — {{t.app}}</title><link rel="stylesheet" href="/console.css"></head>
        <body><a class="skip" href="#main">{{t.skip}}</a>
        <header><a class="app" href="/">{{t.app}}</a>
        <form method="get" action="/language"><input type="hidden" name="return" value="{{path}}">
        <label for="language-choice">{{t.language}}</label>
        <select id="language-choice" name="lang">{{#languages}}<option value="{{code}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/languages}}</select>
        <button type="submit" class="secondary">{{t.change}}</button></form>
        {{#user}}<span>{{t.signedInAs}} {{name}}{{#site}} ({{site}}){{/site}}</span>
        <form method="post" action="/sign-out"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="secondary">{{t.signOut}}</button></form>{{/user}}
        </header>
        <main id="main">{{{body}}}</main></body></html>
        """,
        "caseload": """
        <h1>{{t.caseload}}</h1><p>{{t.caseloadIntro}}</p>
        <h2 id="counts">{{t.counts}}</h2>
        <ul class="counts" aria-labelledby="counts">{{#counts}}<li>{{label}} : <strong>{{count}}</strong></li>{{/counts}}<li>{{t.total}} : <strong>{{total}}</strong></li></ul>
        {{#overdue}}<p class="problem">{{t.overdueOnPage}}</p>{{/overdue}}
        {{#sections}}<section aria-labelledby="{{id}}"><h2 id="{{id}}">{{title}}</h2>
        {{#filter}}<form method="get" action="/" class="filter"><label for="status-filter">{{t.showStatus}}</label>
        <select id="status-filter" name="status"><option value="">{{t.allStatuses}}</option>{{#statuses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select>
        <button type="submit" class="secondary">{{t.show}}</button></form>{{/filter}}
        {{#empty}}<p>{{t.none}}</p>{{/empty}}
        {{^empty}}<table class="list" id="table-{{id}}" aria-labelledby="{{id}}"><thead><tr><th scope="col">{{t.referral}}</th><th scope="col">{{t.priority}}</th><th scope="col">{{t.needs}}</th><th scope="col">{{t.status}}</th><th scope="col">{{t.nextStep}}</th><th scope="col">{{t.received}}</th></tr></thead><tbody>
        {{#rows}}<tr{{#overdue}} class="overdue"{{/overdue}}><td data-label="{{t.referral}}"><a href="/referrals/{{id}}">{{short}}</a></td><td data-label="{{t.priority}}"{{#urgent}} class="urgent"{{/urgent}}>{{priority}}</td><td data-label="{{t.needs}}">{{needs}}</td><td data-label="{{t.status}}">{{status}}</td><td data-label="{{t.nextStep}}">{{next}}{{#due}}<br><span class="due">{{t.dueBy}} {{due}}</span>{{/due}}{{#overdue}} <strong class="flag">{{t.overdue}}</strong>{{/overdue}}</td><td data-label="{{t.received}}">{{received}}</td></tr>{{/rows}}
        </tbody></table>{{/empty}}
        {{#first}}<a class="pager" href="{{first}}">{{t.firstPage}}</a>{{/first}} {{#next}}<a class="pager" href="{{next}}" rel="next">{{t.nextPage}}</a>{{/next}}
        </section>{{/sections}}
        """,
        "referral": """
        <p><a href="/">{{t.back}}</a></p>
        <h1>{{t.referral}} {{short}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#problem}}<p class="problem" role="alert">{{problem}}</p>{{/problem}}
        <h2>{{t.details}}</h2>
        <dl><dt>{{t.status}}</dt><dd>{{status}}</dd><dt>{{t.priority}}</dt><dd{{#urgent}} class="urgent"{{/urgent}}>{{priority}}</dd>
        <dt>{{t.needs}}</dt><dd>{{needs}}</dd><dt>{{t.supportLevel}}</dt><dd>{{support}}</dd><dt>{{t.interests}}</dt><dd>{{interests}}</dd>
        <dt>{{t.site}}</dt><dd>{{site}}</dd><dt>{{t.referrer}}</dt><dd>{{referrer}}</dd><dt>{{t.received}}</dt><dd>{{received}}</dd></dl>
        <h2>{{t.actions}}</h2>
        {{^actions}}<p>{{t.noActions}}</p>{{/actions}}
        <div class="actions">{{#actions}}<form method="post" action="/referrals/{{referralId}}/transitions">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="action" value="{{action}}">
        {{#needsReason}}<label for="reason-{{action}}">{{t.reason}}</label><textarea id="reason-{{action}}" name="reason" required maxlength="1000"></textarea>{{/needsReason}}
        {{#needsOutcome}}<label for="outcome-{{action}}">{{t.outcome}}</label><textarea id="outcome-{{action}}" name="outcome" required maxlength="1000"></textarea>{{/needsOutcome}}
        <button type="submit" name="submit" value="{{action}}">{{label}}</button></form>{{/actions}}</div>
        <h2>{{t.matches}}</h2>
        {{^matches}}<p>{{t.noMatches}}</p>{{/matches}}
        {{#hasMatches}}<table class="list"><thead><tr><th scope="col">#</th><th scope="col">{{t.matches}}</th><th scope="col">{{t.score}}</th><th scope="col">{{t.reasons}}</th></tr></thead><tbody>
        {{#matches}}<tr><td data-label="#">{{rank}}</td><td data-label="{{t.matches}}">{{name}}</td><td data-label="{{t.score}}">{{score}}</td><td data-label="{{t.reasons}}">{{reasons}}</td></tr>{{/matches}}</tbody></table>{{/hasMatches}}
        <h2>{{t.notifications}}</h2>
        {{^notifications}}<p>{{t.noNotifications}}</p>{{/notifications}}
        {{#hasNotifications}}<table class="list"><thead><tr><th scope="col">{{t.template}}</th><th scope="col">{{t.channel}}</th><th scope="col">{{t.status}}</th><th scope="col">{{t.sentAt}}</th></tr></thead><tbody>
        {{#notifications}}<tr><td data-label="{{t.template}}">{{template}}</td><td data-label="{{t.channel}}">{{channel}}</td><td data-label="{{t.status}}">{{status}}</td><td data-label="{{t.sentAt}}">{{sent}}</td></tr>{{/notifications}}</tbody></table>{{/hasNotifications}}
        """,
        "message": """
        <h1>{{heading}}</h1>{{#detail}}<p class="problem" role="alert">{{detail}}</p>{{/detail}}
        {{#signIn}}<p><a href="/sign-in">{{t.signInAgain}}</a></p>{{/signIn}}{{#back}}<p><a href="/">{{t.back}}</a></p>{{/back}}
        """,
    ]
}

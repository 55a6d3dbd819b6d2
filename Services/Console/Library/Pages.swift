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
            // The directory is for those who search the catalogue (matching's searchResources).
            let searches = !Set(session.roles).isDisjoint(with: ["link-worker", "coordinator", "network-coordinator"])
            layout["user"] = ["name": session.displayName, "site": session.site ?? "", "directory": searches]
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
        header a,header .app{color:var(--brand-ink);font-weight:700;text-decoration:none}.sections a{display:inline-block;padding:.5rem .25rem;margin-right:.75rem;font-weight:400;text-decoration:underline}
        .directory .open{color:var(--ok)}header form{display:inline-flex;gap:.5rem;align-items:center;margin:0}
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
        button.secondary{background:#fff;color:var(--brand)}
        .toc ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.5rem 0}.toc a{display:inline-block;padding:.4rem 0}
        form.casework{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;margin:.75rem 0;background:var(--soft)}
        form.casework h3{margin-top:0}.fields{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:0 1rem}
        form label{display:block;font-weight:600;margin:.25rem 0}form label.choice{display:inline-flex;gap:.4rem;align-items:center;font-weight:400;min-height:44px;margin-right:1.25rem}
        form input[type=number],form input[type=datetime-local],form input[type=text],form select,form textarea{font:inherit;padding:.45rem;border:1px solid var(--muted);border-radius:4px;max-width:100%}
        form textarea{width:100%;min-height:4.5rem}fieldset{border:1px solid var(--line);border-radius:4px;margin:.5rem 0;padding:.25rem .75rem}
        legend{font-weight:600;padding:0 .25rem}[aria-invalid=true]{border:2px solid var(--urgent)!important}
        .hint{color:var(--muted);font-size:.9rem;display:block}.goals{display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:1rem}
        .goal{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem}.goal h4{margin:0 0 .25rem;font-size:1.05rem}
        .notes{list-style:none;padding:0}.notes li{border-bottom:1px solid var(--line);padding:.25rem 0}.notes .body{white-space:pre-wrap;margin:.25rem 0}
        .timeline{list-style:none;padding:0;border-left:3px solid var(--line);margin-left:.5rem}.timeline li{padding:.35rem .75rem;position:relative}
        .timeline .when{color:var(--muted);font-size:.9rem}.timeline .kind{font-weight:700}.timeline .detail{color:var(--muted)}
        .timeline li.failed .what{color:var(--urgent);font-weight:600}
        .connections{list-style:none;padding:0}.connections article{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;margin:.5rem 0}.connections h3{margin:0 0 .25rem;font-size:1.1rem}
        form.outcome fieldset.item label.choice{margin-right:.75rem}
        .matches{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(20rem,1fr));gap:1rem}
        .matches article{border:1px solid var(--line);border-radius:6px;padding:.75rem 1rem;height:100%}.matches h2{margin:0 0 .5rem;font-size:1.1rem}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}
        dl.screening{grid-template-columns:minmax(0,max-content) minmax(0,1fr)}dl.screening dt,dl.screening dd{overflow-wrap:anywhere}dl.screening dd{white-space:pre-line}
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
        <header><a class="app" href="/">{{t.app}}</a>{{#user}}<nav aria-label="{{t.sections}}" class="sections"><a href="/">{{t.caseload}}</a>{{#directory}} <a href="/directory">{{t.directory}}</a>{{/directory}}</nav>{{/user}}
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
        {{#pageProblem}}<p class="problem" role="alert">{{pageProblem}}</p>{{/pageProblem}}
        <nav aria-label="{{t.onThisPage}}" class="toc"><ul><li><a href="#details">{{t.details}}</a></li><li><a href="#screening">{{t.screeningAnswers}}</a></li>{{#clientIdentity}}<li><a href="#client">{{t.client}}</a></li>{{/clientIdentity}}<li><a href="#next">{{t.actions}}</a></li>{{#open}}<li><a href="#contact">{{t.contacts}}</a></li><li><a href="#plan">{{t.plan}}</a></li>{{/open}}{{#casework}}<li><a href="#connections">{{t.connections}}</a></li><li><a href="#outcomes">{{t.outcomes}}</a></li><li><a href="#service-use">{{t.serviceUse}}</a></li><li><a href="#note">{{t.notes}}</a></li><li><a href="#consent">{{t.consent}}</a></li>{{/casework}}<li><a href="#timeline">{{t.timeline}}</a></li>{{#casework}}<li><a href="/referrals/{{referralId}}/matches">{{t.matches}}</a></li><li><a href="/directory?referral={{referralId}}" id="search-directory">{{t.searchDirectory}}</a></li>{{/casework}}</ul></nav>
        <h2 id="details">{{t.details}}</h2>
        <dl><dt>{{t.status}}</dt><dd>{{status}}</dd><dt>{{t.priority}}</dt><dd{{#urgent}} class="urgent"{{/urgent}}>{{priority}}</dd>
        <dt>{{t.needs}}</dt><dd>{{needs}}</dd><dt>{{t.supportLevel}}</dt><dd>{{support}}</dd><dt>{{t.interests}}</dt><dd>{{interests}}</dd>
        <dt>{{t.clientRef}}</dt><dd>{{client}}</dd><dt>{{t.site}}</dt><dd>{{site}}</dd><dt>{{t.referrer}}</dt><dd>{{referrer}}</dd><dt>{{t.owner}}</dt><dd>{{owner}}</dd><dt>{{t.received}}</dt><dd>{{received}}</dd></dl>
        <h2 id="screening">{{t.screeningAnswers}}</h2>
        {{#hasScreeningAnswers}}<dl class="screening" id="screening-answers">{{#screeningAnswers}}<dt>{{code}}</dt><dd>{{answer}}</dd>{{/screeningAnswers}}</dl>{{/hasScreeningAnswers}}
        {{^hasScreeningAnswers}}<p>{{t.noScreeningAnswers}}</p>{{/hasScreeningAnswers}}
        {{#clientIdentity}}<h2 id="client">{{t.client}}</h2>
        <dl class="client"><dt>{{t.clientName}}</dt><dd>{{name}}</dd><dt>{{t.birthDate}}</dt><dd>{{birthDate}}</dd>
        <dt>{{t.phone}}</dt><dd>{{#phone}}<a href="tel:{{tel}}">{{phone}}</a>{{/phone}}{{^phone}}—{{/phone}}</dd><dt>{{t.email}}</dt><dd>{{#email}}<a href="mailto:{{email}}">{{email}}</a>{{/email}}{{^email}}—{{/email}}</dd>
        <dt>{{t.preferredLanguage}}</dt><dd>{{language}}</dd><dt>{{t.preferredChannel}}</dt><dd>{{channel}}</dd><dt>{{t.postalCode}}</dt><dd>{{#postalCode}}{{postalCode}}{{/postalCode}}{{^postalCode}}—{{/postalCode}}</dd>
        <dt>{{t.accessibilityNeeds}}</dt><dd>{{accessibility}}</dd>
        <dt>{{t.consent}}</dt><dd>{{t.consentContactShort}} : {{consentContact}} · {{t.consentShareShort}} : {{consentShare}} · {{t.consentEvaluationShort}} : {{consentEvaluation}}</dd></dl>
        <p class="hint">{{t.clientReadAudited}}</p>{{/clientIdentity}}
        {{#clientUnavailable}}<h2 id="client">{{t.client}}</h2><p>{{t.partUnavailable}}</p>{{/clientUnavailable}}
        <h2 id="next">{{t.actions}}</h2>
        {{#step}}<p class="step">{{t.nextStep}} : <strong>{{label}}</strong>, {{t.dueBy}} {{due}}{{#overdue}} <strong class="flag">{{t.overdue}}</strong>{{/overdue}}</p>{{/step}}
        {{#transitionProblem}}<p class="problem" role="alert" id="transition-problem">{{transitionProblem}}</p>{{/transitionProblem}}
        {{^actions}}<p>{{t.noActions}}</p>{{/actions}}
        <div class="actions">{{#actions}}<form method="post" action="/referrals/{{referralId}}/transitions#next">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="action" value="{{action}}">
        {{#needsReason}}<label for="reason-{{action}}">{{t.reason}}</label><textarea id="reason-{{action}}" name="reason" required maxlength="1000">{{reason}}</textarea>{{/needsReason}}
        {{#needsOutcome}}<label for="outcome-{{action}}">{{t.outcome}}</label><textarea id="outcome-{{action}}" name="outcome" required maxlength="1000">{{outcome}}</textarea>{{/needsOutcome}}
        <button type="submit" name="submit" value="{{action}}">{{label}}</button></form>{{/actions}}</div>
        {{#open}}
        <h2 id="contact">{{t.contacts}}</h2>
        {{#contactForm}}<form method="post" action="/referrals/{{referralId}}/contacts#contact-form" class="casework" id="contact-form">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="key" value="{{key}}">
        <h3>{{t.logContact}}</h3>
        {{#problem}}<div class="problem" role="alert" id="contact-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <div class="fields"><p><label for="contact-when">{{t.field.occurredAt}}</label><input type="datetime-local" id="contact-when" name="occurredAt" value="{{occurredAt}}"{{#invalid.occurredAt}} aria-invalid="true"{{/invalid.occurredAt}}{{#problem}} aria-describedby="contact-problem"{{/problem}}><span class="hint" id="contact-when-hint">{{t.whenHint}}</span></p>
        <p><label for="contact-mode">{{t.field.mode}}</label><select id="contact-mode" name="mode" required{{#invalid.mode}} aria-invalid="true"{{/invalid.mode}}{{#problem}} aria-describedby="contact-problem"{{/problem}}>{{#modes}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/modes}}</select></p>
        <p><label for="contact-minutes">{{t.field.minutes}}</label><input type="number" id="contact-minutes" name="minutes" min="0" max="600" step="1" required value="{{minutes}}"{{#invalid.minutes}} aria-invalid="true"{{/invalid.minutes}}{{#problem}} aria-describedby="contact-problem"{{/problem}}></p>
        <p><label for="contact-party">{{t.field.party}}</label><select id="contact-party" name="party"{{#invalid.party}} aria-invalid="true"{{/invalid.party}}{{#problem}} aria-describedby="contact-problem"{{/problem}}>{{#parties}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/parties}}</select></p></div>
        <fieldset{{#invalid.reached}} aria-invalid="true"{{/invalid.reached}}><legend>{{t.field.reached}}</legend><label class="choice"><input type="radio" name="reached" value="yes" required{{#reachedYes}} checked{{/reachedYes}}> {{t.reached}}</label> <label class="choice"><input type="radio" name="reached" value="no"{{#reachedNo}} checked{{/reachedNo}}> {{t.notReached}}</label></fieldset>
        <p><label for="contact-note">{{t.field.note}}</label><textarea id="contact-note" name="note" maxlength="500"{{#invalid.note}} aria-invalid="true"{{/invalid.note}}{{#problem}} aria-describedby="contact-problem"{{/problem}}>{{note}}</textarea></p>
        <button type="submit">{{t.logContact}}</button></form>{{/contactForm}}
        {{^hasContacts}}<p>{{t.noContacts}}</p>{{/hasContacts}}{{^contactsAvailable}}<p>{{t.partUnavailable}}</p>{{/contactsAvailable}}
        {{#hasContacts}}<table class="list" id="contacts"><caption>{{t.contactLog}}</caption><thead><tr><th scope="col">{{t.when}}</th><th scope="col">{{t.field.mode}}</th><th scope="col">{{t.field.party}}</th><th scope="col">{{t.field.reached}}</th><th scope="col">{{t.field.minutes}}</th><th scope="col">{{t.field.note}}</th></tr></thead><tbody>
        {{#contacts}}<tr><td data-label="{{t.when}}">{{when}}</td><td data-label="{{t.field.mode}}">{{mode}}</td><td data-label="{{t.field.party}}">{{party}}</td><td data-label="{{t.field.reached}}"{{^wasReached}} class="urgent"{{/wasReached}}>{{reached}}</td><td data-label="{{t.field.minutes}}">{{minutes}}</td><td data-label="{{t.field.note}}">{{note}}</td></tr>{{/contacts}}</tbody></table>{{/hasContacts}}
        <h2 id="plan">{{t.plan}}</h2>
        {{^planAvailable}}<p>{{t.partUnavailable}}</p>{{/planAvailable}}
        {{#planForm}}<form method="post" action="/referrals/{{referralId}}/plan#plan-form" class="casework" id="plan-form"><input type="hidden" name="csrf" value="{{csrf}}">
        <h3>{{t.whatMatters}}</h3>{{#problem}}<div class="problem" role="alert" id="plan-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <p><label for="plan-what">{{t.field.whatMatters}}</label><textarea id="plan-what" name="whatMatters" required maxlength="2000"{{#invalid.whatMatters}} aria-invalid="true"{{/invalid.whatMatters}}{{#problem}} aria-describedby="plan-problem"{{/problem}}>{{whatMatters}}</textarea></p>
        {{#planUpdated}}<p class="hint">{{t.updated}} {{planUpdated}}</p>{{/planUpdated}}
        <button type="submit">{{t.savePlan}}</button></form>{{/planForm}}
        {{#supportForm}}<form method="post" action="/referrals/{{referralId}}/support-level#support" class="casework" id="support-form"><input type="hidden" name="csrf" value="{{csrf}}">
        <h3 id="support">{{t.supportAfterAssessment}}</h3>{{#problem}}<div class="problem" role="alert" id="support-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <p><label for="support-level">{{t.field.supportLevel}}</label><select id="support-level" name="supportLevel" required{{#invalid.supportLevel}} aria-invalid="true"{{/invalid.supportLevel}}>{{#levels}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/levels}}</select></p>
        <p><label for="support-reason">{{t.field.reason}}</label><textarea id="support-reason" name="reason" required maxlength="500"{{#invalid.reason}} aria-invalid="true"{{/invalid.reason}}{{#problem}} aria-describedby="support-problem"{{/problem}}>{{reason}}</textarea></p>
        <button type="submit">{{t.changeSupport}}</button></form>{{/supportForm}}
        <h3>{{t.goals}}</h3>
        {{^hasGoals}}<p>{{t.noGoals}}</p>{{/hasGoals}}
        <div class="goals">{{#goals}}<article class="goal" aria-labelledby="goal-{{id}}"><h4 id="goal-{{id}}">{{domain}}</h4><p>{{description}}</p>
        <p>{{t.progress}} : <strong>{{progress}}</strong><br><span class="hint">{{t.setOn}} {{set}} · {{t.reviewedOn}} {{reviewed}}</span></p>
        {{#review}}<form method="post" action="/referrals/{{referralId}}/goals/{{goalId}}/reviews#goal-{{goalId}}" class="review"><input type="hidden" name="csrf" value="{{csrf}}">
        {{#problem}}<div class="problem" role="alert" id="review-{{goalId}}-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <p><label for="review-progress-{{goalId}}">{{t.field.progress}}</label><select id="review-progress-{{goalId}}" name="progress" required{{#invalid.progress}} aria-invalid="true"{{/invalid.progress}}>{{#progresses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/progresses}}</select></p>
        <p><label for="review-note-{{goalId}}">{{t.field.reviewNote}}</label><textarea id="review-note-{{goalId}}" name="note" maxlength="500"{{#invalid.note}} aria-invalid="true"{{/invalid.note}}>{{note}}</textarea></p>
        <button type="submit" class="secondary">{{t.reviewGoal}}</button></form>{{/review}}</article>{{/goals}}</div>
        {{#goalForm}}<form method="post" action="/referrals/{{referralId}}/goals#goal-form" class="casework" id="goal-form"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="key" value="{{key}}">
        <h3>{{t.newGoal}}</h3>{{#problem}}<div class="problem" role="alert" id="goal-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <div class="fields"><p><label for="goal-domain">{{t.field.lifeDomain}}</label><select id="goal-domain" name="lifeDomain" required{{#invalid.lifeDomain}} aria-invalid="true"{{/invalid.lifeDomain}}{{#problem}} aria-describedby="goal-problem"{{/problem}}><option value="">{{t.choose}}</option>{{#domains}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/domains}}</select></p>
        <p><label for="goal-progress">{{t.field.progress}}</label><select id="goal-progress" name="progress"{{#invalid.progress}} aria-invalid="true"{{/invalid.progress}}{{#problem}} aria-describedby="goal-problem"{{/problem}}>{{#progresses}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/progresses}}</select></p></div>
        <p><label for="goal-description">{{t.field.description}}</label><textarea id="goal-description" name="description" required maxlength="500"{{#invalid.description}} aria-invalid="true"{{/invalid.description}}{{#problem}} aria-describedby="goal-problem"{{/problem}}>{{description}}</textarea></p>
        <button type="submit">{{t.setGoal}}</button></form>{{/goalForm}}
        {{/open}}
        {{#casework}}<h2 id="connections">{{t.connections}}</h2>
        <section id="connections-list" aria-labelledby="connections">{{^connectionsAvailable}}<p>{{t.partUnavailable}}</p>{{/connectionsAvailable}}
        {{#connectionsAvailable}}{{^hasConnections}}<p>{{t.noConnections}} <a href="/referrals/{{referralId}}/matches">{{t.seeMatches}}</a></p>{{/hasConnections}}{{/connectionsAvailable}}
        {{#hasConnections}}<ul class="connections">{{#connections}}<li id="connection-{{id}}"><article aria-labelledby="connection-name-{{id}}">
        <h3 id="connection-name-{{id}}">{{name}}</h3>
        <p>{{t.status}} : <strong class="connection-status">{{status}}</strong>{{#reason}} — {{reason}}{{/reason}}<br><span class="hint">{{t.proposedOn}} {{proposed}} · {{t.updated}} {{updated}}</span></p>
        {{#problem}}<p class="problem" role="alert" id="connection-problem-{{id}}">{{problem}}</p>{{/problem}}
        {{#hasChanges}}<div class="actions">{{#changes}}<form method="post" action="/referrals/{{referralId}}/connections/{{connectionId}}#connection-{{connectionId}}"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="status" value="{{status}}">
        {{#ends}}<label for="connection-reason-{{connectionId}}-{{status}}">{{t.field.reason}}</label><textarea id="connection-reason-{{connectionId}}-{{status}}" name="reason" required maxlength="1000"{{#invalid}} aria-invalid="true"{{/invalid}}>{{reason}}</textarea>{{/ends}}
        <button type="submit"{{#ends}} class="secondary"{{/ends}} aria-describedby="connection-name-{{connectionId}}">{{label}}</button></form>{{/changes}}</div>{{/hasChanges}}
        </article></li>{{/connections}}</ul>{{/hasConnections}}</section>
        <h2 id="outcomes">{{t.outcomes}}</h2>
        {{^outcomesAvailable}}<p>{{t.partUnavailable}}</p>{{/outcomesAvailable}}
        {{#outcomesAvailable}}{{^hasOutcomes}}<p id="no-outcomes">{{t.noOutcomes}}</p>{{/hasOutcomes}}{{/outcomesAvailable}}
        {{#hasOutcomes}}<table class="list" id="recorded-outcomes"><caption>{{t.recordedOutcomes}}</caption><thead><tr><th scope="col">{{t.instrument}}</th><th scope="col">{{t.field.timepoint}}</th><th scope="col">{{t.score}}</th><th scope="col">{{t.changeFromBaseline}}</th><th scope="col">{{t.when}}</th></tr></thead><tbody>
        {{#recordedOutcomes}}<tr data-instrument="{{code}}"><td data-label="{{t.instrument}}">{{instrument}}</td><td data-label="{{t.field.timepoint}}">{{timepoint}}</td><td data-label="{{t.score}}">{{scores}}</td><td data-label="{{t.changeFromBaseline}}">{{#change}}{{change}}{{/change}}{{^change}}—{{/change}}</td><td data-label="{{t.when}}">{{recorded}}</td></tr>{{/recordedOutcomes}}</tbody></table>{{/hasOutcomes}}
        <p class="hint">{{t.outcomesIntro}}</p>
        {{#outcomeForms}}<form method="post" action="/referrals/{{referralId}}/outcomes#outcome-{{instrument}}" class="casework outcome" id="outcome-{{instrument}}"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="instrument" value="{{instrument}}">
        <h3>{{title}}</h3>{{#problem}}<div class="problem" role="alert" id="outcome-{{instrument}}-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <p class="hint" id="outcome-{{instrument}}-scale">{{intro}} {{scale}}</p>
        <p><label for="outcome-{{instrument}}-timepoint">{{t.field.timepoint}}</label><select id="outcome-{{instrument}}-timepoint" name="timepoint" required{{#timepointInvalid}} aria-invalid="true"{{/timepointInvalid}}><option value="">{{t.choose}}</option>{{#timepoints}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/timepoints}}</select></p>
        {{#items}}<fieldset class="item"{{#invalid}} aria-invalid="true"{{/invalid}} aria-describedby="outcome-{{instrument}}-scale"><legend>{{number}}. {{wording}}</legend>{{#answers}}<label class="choice"><input type="radio" name="{{field}}" value="{{value}}" required{{#checked}} checked{{/checked}}> {{label}}</label> {{/answers}}</fieldset>{{/items}}
        <button type="submit">{{t.recordOutcome}}</button>{{#licence}}<p class="hint licence" id="outcome-{{instrument}}-licence">{{licence}}</p>{{/licence}}</form>{{/outcomeForms}}
        <h2 id="service-use">{{t.serviceUse}}</h2>
        {{#serviceUseForm}}{{^available}}<p>{{t.partUnavailable}}</p>{{/available}}
        {{#recorded}}<table class="list" id="service-use-table"><caption>{{t.serviceUse}}</caption><thead><tr><th scope="col">{{t.visits}}</th><th scope="col">{{t.periodBefore}}</th><th scope="col">{{t.periodAfter}}</th><th scope="col">{{t.difference}}</th></tr></thead><tbody>
        {{#rows}}<tr><th scope="row">{{label}}</th><td data-label="{{t.periodBefore}}">{{before}}</td><td data-label="{{t.periodAfter}}">{{after}}</td><td data-label="{{t.difference}}">{{change}}</td></tr>{{/rows}}</tbody></table>{{/recorded}}
        <form method="post" action="/referrals/{{referralId}}/service-use#service-use" class="casework" id="service-use-form"><input type="hidden" name="csrf" value="{{csrf}}">
        <p class="hint" id="service-use-hint">{{t.serviceUseIntro}}</p>{{#problem}}<div class="problem" role="alert" id="service-use-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <div class="fields"><fieldset><legend>{{t.periodBefore}}</legend>
        <p><label for="use-before-primary">{{t.field.beforePrimary}}</label><input type="number" id="use-before-primary" name="beforePrimary" min="0" max="183" step="1" value="{{beforePrimary}}"{{#invalid.beforePrimary}} aria-invalid="true"{{/invalid.beforePrimary}} aria-describedby="service-use-hint"></p>
        <p><label for="use-before-emergency">{{t.field.beforeEmergency}}</label><input type="number" id="use-before-emergency" name="beforeEmergency" min="0" max="183" step="1" value="{{beforeEmergency}}"{{#invalid.beforeEmergency}} aria-invalid="true"{{/invalid.beforeEmergency}} aria-describedby="service-use-hint"></p></fieldset>
        <fieldset><legend>{{t.periodAfter}}</legend>
        <p><label for="use-after-primary">{{t.field.afterPrimary}}</label><input type="number" id="use-after-primary" name="afterPrimary" min="0" max="183" step="1" value="{{afterPrimary}}"{{#invalid.afterPrimary}} aria-invalid="true"{{/invalid.afterPrimary}} aria-describedby="service-use-hint"></p>
        <p><label for="use-after-emergency">{{t.field.afterEmergency}}</label><input type="number" id="use-after-emergency" name="afterEmergency" min="0" max="183" step="1" value="{{afterEmergency}}"{{#invalid.afterEmergency}} aria-invalid="true"{{/invalid.afterEmergency}} aria-describedby="service-use-hint"></p></fieldset></div>
        <button type="submit">{{t.recordServiceUse}}</button></form>{{/serviceUseForm}}
        <h2 id="note">{{t.notes}}</h2>
        <p class="hint">{{t.notesPrivate}}</p>
        {{#noteForm}}<form method="post" action="/referrals/{{referralId}}/notes#note-form" class="casework" id="note-form"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="key" value="{{key}}">
        {{#problem}}<div class="problem" role="alert" id="note-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <p><label for="note-body">{{t.field.body}}</label><textarea id="note-body" name="body" required maxlength="4000"{{#invalid.body}} aria-invalid="true"{{/invalid.body}}{{#problem}} aria-describedby="note-problem"{{/problem}}>{{body}}</textarea></p>
        <button type="submit">{{t.writeNote}}</button></form>{{/noteForm}}
        {{^notesAvailable}}<p>{{t.partUnavailable}}</p>{{/notesAvailable}}
        {{#hasNotes}}<ul class="notes" id="notes">{{#notes}}<li><p class="hint">{{written}} · {{author}}</p><p class="body">{{body}}</p></li>{{/notes}}</ul>{{/hasNotes}}
        <h2 id="consent">{{t.consent}}</h2>
        {{#consentForm}}<form method="post" action="/referrals/{{referralId}}/consent#consent-form" class="casework" id="consent-form"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="key" value="{{key}}">
        <p class="hint">{{#known}}{{t.consentKnownHint}}{{/known}}{{^known}}{{t.consentHint}}{{/known}}</p>{{#problem}}<div class="problem" role="alert" id="consent-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        {{#questions}}<fieldset{{#invalid}} aria-invalid="true"{{/invalid}}><legend>{{label}}</legend><label class="choice"><input type="radio" name="{{name}}" value="yes" required{{#yes}} checked{{/yes}}> {{t.yes}}</label> <label class="choice"><input type="radio" name="{{name}}" value="no"{{#no}} checked{{/no}}> {{t.no}}</label></fieldset>{{/questions}}
        <p><label for="consent-reason">{{t.field.reason}}</label><textarea id="consent-reason" name="reason" required maxlength="1000"{{#invalid.reason}} aria-invalid="true"{{/invalid.reason}}{{#problem}} aria-describedby="consent-problem"{{/problem}}>{{reason}}</textarea></p>
        <button type="submit">{{t.changeConsent}}</button></form>{{/consentForm}}{{/casework}}
        <h2 id="timeline">{{t.timeline}}</h2>
        {{^historyAvailable}}<p>{{t.historyUnavailable}}</p>{{/historyAvailable}}
        {{^logAvailable}}<p>{{t.logUnavailable}}</p>{{/logAvailable}}
        <ol class="timeline">{{#timeline}}<li{{#failed}} class="failed"{{/failed}}><span class="when">{{when}}</span> <span class="kind">{{kind}}</span> <span class="what">{{what}}</span>{{#detail}}<br><span class="detail">{{detail}}</span>{{/detail}}</li>{{/timeline}}</ol>
        {{#casework}}<p><a href="/referrals/{{referralId}}/matches">{{t.seeMatches}}</a></p>{{/casework}}
        """,
        "matches": """
        <p><a href="/referrals/{{referralId}}">{{t.backToReferral}}</a></p>
        <h1>{{t.matches}} — {{t.referral}} {{short}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <p>{{t.matchesIntro}}. {{t.proposeHint}}</p>
        {{^hasMatches}}<p>{{t.noMatches}}</p>{{/hasMatches}}
        {{#hasMatches}}<ol class="matches">{{#matches}}<li id="resource-{{resourceId}}"><article aria-labelledby="name-{{resourceId}}">
        <h2 id="name-{{resourceId}}"><span class="rank">{{rank}}.</span> {{name}}</h2>
        <p><span class="hint">{{t.score}} {{score}}</span><br>{{t.reasons}} : {{reasons}}</p>
        {{#problem}}<p class="problem" role="alert" id="problem-{{resourceId}}">{{problem}}</p>{{/problem}}
        {{#proposed}}<p class="notice">{{t.proposed}}</p>{{/proposed}}
        {{^proposed}}<form method="post" action="/referrals/{{referralId}}/connections#resource-{{resourceId}}"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="resourceId" value="{{resourceId}}">
        <button type="submit" aria-describedby="name-{{resourceId}}">{{t.propose}}</button></form>{{/proposed}}
        </article></li>{{/matches}}</ol>{{/hasMatches}}
        """,
        "directory": """
        {{#referral}}<p><a href="/referrals/{{id}}">{{t.backToReferral}}</a></p>{{/referral}}
        <h1>{{t.directory}}{{#referral}} — {{t.referral}} {{short}}{{/referral}}</h1>
        <p>{{t.directoryIntro}}</p>{{#hint}}<p class="hint">{{hint}}</p>{{/hint}}
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        <form method="get" action="/directory" class="casework search" id="directory-search" role="search" aria-label="{{t.directory}}">
        {{#referral}}<input type="hidden" name="referral" value="{{id}}">{{/referral}}
        {{#problem}}<div class="problem" role="alert" id="directory-problem"><p>{{problem}}</p>{{#hasErrors}}<ul>{{#errors}}<li>{{field}} : {{detail}}</li>{{/errors}}</ul>{{/hasErrors}}</div>{{/problem}}
        <div class="fields"><p><label for="directory-need">{{t.field.need}}</label><select id="directory-need" name="need"{{#invalid.need}} aria-invalid="true"{{/invalid.need}}><option value="">{{t.anyNeed}}</option>{{#needs}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/needs}}</select></p>
        <p><label for="directory-language">{{t.field.language}}</label><select id="directory-language" name="language"{{#invalid.language}} aria-invalid="true"{{/invalid.language}}><option value="">{{t.anyLanguage}}</option>{{#languages}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/languages}}</select></p>
        <p><label for="directory-accessibility">{{t.field.accessibility}}</label><select id="directory-accessibility" name="accessibility"{{#invalid.accessibility}} aria-invalid="true"{{/invalid.accessibility}}><option value="">{{t.anyAccessibility}}</option>{{#features}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/features}}</select></p>
        <p><label for="directory-postal">{{t.field.postalNear}}</label><input type="text" id="directory-postal" name="postal" value="{{postal}}" maxlength="7" autocomplete="postal-code" aria-describedby="directory-postal-hint"{{#invalid.postal}} aria-invalid="true"{{/invalid.postal}}><span class="hint" id="directory-postal-hint">{{#distanceAvailable}}{{t.postalHint}}{{/distanceAvailable}}{{^distanceAvailable}}{{t.noPostalAreas}}{{/distanceAvailable}}</span></p>
        <p><label for="directory-radius">{{t.field.radius}}</label><select id="directory-radius" name="radius"{{#invalid.radius}} aria-invalid="true"{{/invalid.radius}}>{{#radii}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/radii}}</select></p></div>
        <p><label class="choice"><input type="checkbox" name="open" value="1" id="directory-open" aria-describedby="directory-open-hint"{{#openNow}} checked{{/openNow}}> {{t.field.openNow}}</label> <span class="hint" id="directory-open-hint">{{t.openNowHint}}</span></p>
        <button type="submit">{{t.search}}</button></form>
        {{#asked}}<h2 id="results">{{t.results}}</h2><p role="status" id="directory-count">{{count}}</p>{{#more}}<p class="hint">{{more}}</p>{{/more}}
        {{^hasResults}}<p>{{t.noResources}}</p>{{/hasResults}}
        {{#hasResults}}<ol class="matches directory">{{#results}}<li id="resource-{{id}}"><article aria-labelledby="resource-name-{{id}}">
        <h3 id="resource-name-{{id}}">{{name}}</h3><p class="hint">{{organisation}}{{#distance}} · <span class="distance">{{distance}}</span>{{/distance}}{{#openNow}} · <strong class="open">{{t.openNow}}</strong>{{/openNow}}</p>
        <p>{{description}}</p>
        <dl><dt>{{t.needs}}</dt><dd>{{needs}}</dd><dt>{{t.field.language}}</dt><dd>{{languages}}{{#interpretation}} ({{t.interpretation}}){{/interpretation}}</dd>
        <dt>{{t.days}}</dt><dd>{{days}}{{#schedule}} — {{schedule}}{{/schedule}}</dd>{{#hoursToday}}<dt>{{t.hoursToday}}</dt><dd class="hours-today">{{hoursToday}}</dd>{{/hoursToday}}<dt>{{t.delivery}}</dt><dd>{{delivery}}</dd>
        {{#accessibility}}<dt>{{t.field.accessibility}}</dt><dd>{{accessibility}}</dd>{{/accessibility}}{{#address}}<dt>{{t.address}}</dt><dd>{{address}}</dd>{{/address}}
        {{#contact}}<dt>{{t.contactInfo}}</dt><dd>{{contact}}</dd>{{/contact}}{{#seats}}<dt>{{t.seats}}</dt><dd>{{seats}}</dd>{{/seats}}</dl>
        {{#problem}}<p class="problem" role="alert" id="problem-{{id}}">{{problem}}</p>{{/problem}}
        {{#proposed}}<p class="notice">{{t.proposed}}</p>{{/proposed}}
        {{#propose}}{{^proposed}}<form method="post" action="/referrals/{{referralId}}/connections"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="resourceId" value="{{resourceId}}"><input type="hidden" name="return" value="{{return}}">
        <button type="submit" aria-describedby="resource-name-{{resourceId}}">{{t.proposeForReferral}}</button></form>{{/proposed}}{{/propose}}
        </article></li>{{/results}}</ol>{{/hasResults}}{{/asked}}
        """,
        "message": """
        <h1>{{heading}}</h1>{{#detail}}<p class="problem" role="alert">{{detail}}</p>{{/detail}}
        {{#signIn}}<p><a href="/sign-in">{{t.signInAgain}}</a></p>{{/signIn}}{{#back}}<p><a href="/">{{t.back}}</a></p>{{/back}}
        """,
    ]
}

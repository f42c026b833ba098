//! The verdict: plain words, one repair offered, durations and names, the documented states.

use super::*;

#[test]
fn the_verdict_speaks_plainly_and_offers_one_repair() {
    use verdict::VerdictState::{Broken, NoCauseFound, Refused};
    let protected = {
        let mut fx = Fx::healthy();
        fx.0.protected_ou = true;
        fx
    };
    // (situation, state, words in the headline, the primary repair)
    let table = [
        (
            Fx::healthy(),
            NoCauseFound,
            "No cause found in AD: the account is enabled and every",
            Some(RepairAction::TokenRepair),
        ),
        (
            Fx::healthy().unreachable("dc2"),
            NoCauseFound,
            "not every domain controller answered",
            Some(RepairAction::TokenRepair),
        ),
        (
            set_after_logon(days(8)),
            Broken,
            "the password in AD was changed 8 days after this PC last signed in",
            Some(RepairAction::TokenRepair),
        ),
        (
            set_after_logon(Duration::hours(3)),
            Broken,
            "changed 3 h after this PC",
            Some(RepairAction::TokenRepair),
        ),
        (
            Fx::healthy()
                .account(|a| a.uac = Uac(4098))
                .each_dc(|v| v.uac = Some(Uac(4098))),
            Broken,
            "disabled in AD. Enable it",
            None,
        ),
        (Fx::missing(), Broken, "no computer account in AD", None),
        (protected, Refused, "Escalate to a domain admin", None),
    ];
    for (fx, state, words, primary) in table {
        let d = fx.run();
        let v = &d.verdict;
        assert_eq!(v.state, state, "{v:?}");
        assert!(v.headline.contains(words), "{v:?}");
        assert_eq!(v.primary.as_ref().map(|p| p.action), primary, "{v:?}");
        assert_plain(&v.headline);
    }
    let label = |fx: Fx| fx.run().verdict.primary.map(|p| p.label);
    assert_eq!(
        label(set_after_logon(days(8))).as_deref(),
        Some("Fix with a token repair (~2 min)")
    );
    assert_eq!(
        label(Fx::healthy()).as_deref(),
        Some("If the PC still shows the error: fix with a token repair (~2 min)")
    );
}

#[test]
fn durations_and_names_read_well() {
    use super::facts::{same_name, span};
    let table = [
        (Duration::seconds(30), "30 s"),
        (Duration::minutes(10), "10 min"),
        (Duration::seconds(250), "4 min 10 s"),
        (Duration::HOUR, "1 h"),
        (Duration::minutes(303), "5 h 3 min"),
        (days(1), "24 h"),
        (days(2), "2 days"),
        (-days(93), "93 days"),
    ];
    for (d, text) in table {
        assert_eq!(span(d), text);
    }
    assert!(same_name("PC01$", "pc01"));
    assert!(same_name("pc01.corp.example", "PC01$"));
    assert!(!same_name("PC01", "PC011"));
    assert!(!same_name("", "$"));
}

#[test]
fn the_verdict_states_are_the_documented_ones() {
    use verdict::VerdictState::*;
    let schema = crate::web::openapi_schema;
    let diagnosis = schema("Diagnosis");
    assert_eq!(
        diagnosis["properties"]["verdict"]["$ref"],
        "#/components/schemas/Verdict"
    );
    let verdict = schema("Verdict");
    assert_eq!(
        verdict["properties"]["state"]["$ref"],
        "#/components/schemas/VerdictState"
    );
    let listed = schema("VerdictState")["enum"].clone();
    let ours = serde_json::to_value([Broken, Settling, Refused, NoCauseFound]).unwrap();
    assert_eq!(listed, ours);
    let json = serde_json::to_value(set_after_logon(days(8)).run().verdict).unwrap();
    for key in ["state", "headline", "primary"] {
        assert!(verdict["properties"].get(key).is_some(), "{key}");
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["primary"]["action"], "token_repair");
}

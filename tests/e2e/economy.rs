//! The economy over GraphQL and the CLI (issue 21): the operator's issuance on the data
//! directory (a bad file names its line, and nothing is issued); balances and transfers their
//! owner's alone; idempotent transfers (a retry answers with the first result, another amount
//! under the same key is IDEMPOTENCY_CONFLICT); never below zero (INSUFFICIENT_FUNDS); a
//! user's masks cannot pay each other while a shadow mask trades like any other; two-phase
//! transfers; a sale split into fee, royalty and the author's part, searchable while listed;
//! a contract in escrow; concurrent payments and purchases from many clients that conserve
//! every piastre; `audit verify` checking the ledger after it all.

use crate::server::Server;
use crate::{log_seq, ok, refused, run, write};
use serde_json::{Value, json};
use std::collections::HashMap;

const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { transfer { id amount posted state incoming code counterparty { handle } } balance seq userErrors { field message code } } }";
const POST: &str = "mutation($i: SettleInput!) { postTransfer(input: $i) { transfer { id posted state } balance userErrors { field message code } } }";
const VOID: &str = "mutation($i: SettleInput!) { voidTransfer(input: $i) { transfer { id state } userErrors { field message code } } }";
const BUY: &str = "mutation($i: BuyInput!) { buy(input: $i) { trade { id price legs { to { handle } amount role share depth } } balance seq userErrors { field message code } } }";
const MONEY: &str = "query($h: String!) { mask(handle: $h) { balance available transfers(first: 100) { totalCount edges { node { id amount state incoming } } } } }";

fn money(server: &Server, token: &str, handle: &str) -> Value {
    server.gql(MONEY, json!({"h": handle}), Some(token))["mask"].clone()
}

fn balance(server: &Server, token: &str, handle: &str) -> String {
    money(server, token, handle)["balance"].as_str().unwrap_or_else(|| panic!("{handle}: no balance")).to_owned()
}

/// EGP text to piastres.
fn piastres(egp: &str) -> i64 {
    let (whole, frac) = egp.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
}

#[test]
fn the_economy_over_graphql_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--rate-per-ip", "0", "--rate-per-token", "0", "--fee-bp", "500"];
    let server = Server::start_in(&data, false, &args);
    let (amal, amal_mask) = server.user_with_mask("amal", "amal_pays", "PUBLIC");
    let amal_night = server.create_mask(&amal, "amal_night", "SHADOW");
    let (bassem, bassem_mask) = server.user_with_mask("bassem", "bassem_art", "CREATOR");
    let (chadi, chadi_mask) = server.user_with_mask("chadi", "chadi_remix", "CREATOR");
    assert!(server.terminate().success());

    // Issuance is the operator's, on the data directory: a bad line is named, nothing issued.
    let bad = write(dir.path(), "bad.csv", "amal_pays,100.00\nbassem_art,1.234\nghost_mask,5\n");
    let out = run(&data, &["ledger", "issue", "--file", bad.to_str().unwrap(), "--reason", "opening"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("bad.csv:2") && said.contains("more than two decimals"), "{said}");
    let unknown = write(dir.path(), "unknown.csv", "amal_pays,100.00\nghost_mask,5\n");
    let out = run(&data, &["ledger", "issue", "--file", unknown.to_str().unwrap(), "--reason", "opening"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown.csv:2: no mask has the handle \"ghost_mask\""));
    let grants =
        write(dir.path(), "grants.csv", "# opening grants\namal_pays,100.00\nchadi_remix,50\namal_night,20.00\n");
    let out = run(&data, &["ledger", "issue", "--file", grants.to_str().unwrap(), "--reason", "opening"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("issued 170.00 EGP in 3 grants"));
    let again = run(&data, &["ledger", "issue", "--file", grants.to_str().unwrap(), "--reason", "opening"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("3 already issued"), "a rerun issues nothing twice");

    let server = Server::start_in(&data, false, &args);
    assert_eq!(balance(&server, &amal, "amal_pays"), "100.00");
    let metrics = server.request("GET", "/metrics", &[], b"").body;
    assert!(metrics.contains("daira_ledger_issued_piastres 17000\n"), "/metrics says what was issued");
    // A balance and its transfers are the owner's alone.
    let seen = money(&server, &bassem, "amal_pays");
    assert_eq!((seen["balance"].clone(), seen["transfers"].clone()), (Value::Null, Value::Null), "{seen}");
    assert_eq!(server.gql(MONEY, json!({"h": "amal_pays"}), None)["mask"]["balance"], Value::Null);

    // A transfer; its retry answers with the first result and writes nothing.
    let pay = |amount: &str, id: &str| json!({"as": amal_mask, "to": bassem_mask, "amount": amount, "id": id});
    let first = ok(&server, &amal, TRANSFER, pay("12.50", "rent-march"));
    assert_eq!(first["balance"], "87.50");
    assert_eq!(first["transfer"]["counterparty"]["handle"], "bassem_art");
    let seq = log_seq(&server);
    let retry = ok(&server, &amal, TRANSFER, pay("12.50", "rent-march"));
    assert_eq!(retry["transfer"]["id"], first["transfer"]["id"]);
    assert_eq!(log_seq(&server), seq, "a retry writes nothing");
    let e = refused(&server, &amal, TRANSFER, pay("12.00", "rent-march"));
    assert_eq!((&e["code"], &e["field"]), (&json!("IDEMPOTENCY_CONFLICT"), &json!(["input", "id"])), "{e}");
    let e = refused(&server, &amal, TRANSFER, pay("1000", "too-much"));
    assert_eq!(e["code"], "INSUFFICIENT_FUNDS", "{e}");
    assert!(e["message"].as_str().unwrap().contains("87.50 EGP available"), "the payer learns its own amounts: {e}");
    for (amount, why) in [("12.505", "more than two decimals"), ("-3", "not an amount"), ("0", "more than zero")] {
        let e = refused(&server, &amal, TRANSFER, pay(amount, "bad"));
        assert_eq!((&e["code"], &e["field"]), (&json!("BAD_USER_INPUT"), &json!(["input", "amount"])), "{e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{amount}: {e}");
    }
    // A user's masks cannot pay each other; a shadow mask pays like any other.
    let e = refused(&server, &amal, TRANSFER, json!({"as": amal_mask, "to": amal_night, "amount": "1", "id": "self"}));
    assert_eq!(e["message"], "your own masks cannot pay each other", "{e}");
    ok(&server, &amal, TRANSFER, json!({"as": amal_night, "to": chadi_mask, "amount": "5.00", "id": "quiet"}));
    let chadi_sees = money(&server, &chadi, "chadi_remix");
    assert_eq!(chadi_sees["balance"], "55.00");
    assert_eq!(chadi_sees["transfers"]["totalCount"], 2);

    // A linked group: all of it or none of it.
    let linked = "mutation($i: LinkedTransfersInput!) { linkedTransfers(input: $i) { transfers { amount } balance userErrors { field message code } } }";
    let group = |second: &str| {
        json!({"as": amal_mask, "transfers": [
            {"to": bassem_mask, "amount": "1.00", "id": "split-a"},
            {"to": chadi_mask, "amount": second, "id": "split-b"}
        ]})
    };
    let e = refused(&server, &amal, linked, group("500.00"));
    assert_eq!(e["code"], "INSUFFICIENT_FUNDS", "{e}");
    assert_eq!(balance(&server, &amal, "amal_pays"), "87.50", "nothing of a refused group moved");
    let e = refused(
        &server,
        &amal,
        linked,
        json!({"as": amal_mask, "transfers": [{"to": bassem_mask, "amount": "1.001", "id": "x"}]}),
    );
    assert_eq!(e["field"], json!(["input", "transfers", "0", "amount"]), "{e}");
    let made = ok(&server, &amal, linked, group("1.00"));
    assert_eq!(made["balance"], "85.50");
    // The two are paid back, so the balances below read as before.
    ok(&server, &bassem, TRANSFER, json!({"as": bassem_mask, "to": amal_mask, "amount": "1.00", "id": "back-1"}));
    ok(&server, &chadi, TRANSFER, json!({"as": chadi_mask, "to": amal_mask, "amount": "1.00", "id": "back-2"}));
    assert_eq!(balance(&server, &amal, "amal_pays"), "87.50");

    // Two-phase: reserve, post part of it; the payee voids another.
    let held = ok(
        &server,
        &amal,
        TRANSFER,
        json!({"as": amal_mask, "to": bassem_mask, "amount": "20.00", "id": "hold", "pending": true, "timeoutMs": 60000}),
    );
    assert_eq!(held["transfer"]["state"], "PENDING");
    assert_eq!(money(&server, &amal, "amal_pays")["available"], "67.50");
    let posted = ok(&server, &amal, POST, json!({"as": amal_mask, "id": "hold", "amount": "15.00"}));
    assert_eq!((posted["transfer"]["posted"].as_str(), posted["balance"].as_str()), (Some("15.00"), Some("72.50")));
    let held = ok(
        &server,
        &amal,
        TRANSFER,
        json!({"as": amal_mask, "to": bassem_mask, "amount": "3.00", "id": "hold-2", "pending": true}),
    );
    let e = refused(&server, &bassem, POST, json!({"as": bassem_mask, "id": held["transfer"]["id"]}));
    assert_eq!(e["code"], "FORBIDDEN", "only the payer posts: {e}");
    let voided = ok(&server, &bassem, VOID, json!({"as": bassem_mask, "id": held["transfer"]["id"]}));
    assert_eq!(voided["transfer"]["state"], "VOIDED");
    let e = refused(&server, &chadi, VOID, json!({"as": chadi_mask, "id": held["transfer"]["id"]}));
    assert_eq!(e["code"], "NOT_FOUND", "a stranger cannot tell a transfer exists: {e}");

    // A balance is followed live by its owner alone: subscribing to another's is NOT_FOUND,
    // exactly as for a mask that does not exist.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use crate::server::ws;
        let auth = |t: &str| json!({"Authorization": format!("Bearer {t}")});
        let url = server.ws_url("/graphql/ws");
        let (mut own, ack) = ws::connect(&url, "graphql-transport-ws", auth(&bassem)).await;
        assert_eq!(ack["type"], "connection_ack");
        let watch = "subscription($m: ID!) { balanceChanges(mask: $m) { seq balance available transfer { amount incoming counterparty { handle } } } }";
        ws::send(&mut own, json!({"id": "own", "type": "subscribe", "payload": {"query": watch, "variables": {"m": bassem_mask}}})).await;
        ws::send(&mut own, json!({"id": "spy", "type": "subscribe", "payload": {"query": watch, "variables": {"m": amal_mask}}})).await;
        let refused = ws::next(&mut own, std::time::Duration::from_secs(10)).await.expect("an answer");
        assert_eq!(refused["id"], "spy", "{refused}");
        assert_eq!(refused["payload"]["data"], Value::Null, "{refused}");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        ok(&server, &amal, TRANSFER, pay("1.00", "live"));
        let change = loop {
            let frame = ws::next(&mut own, std::time::Duration::from_secs(10)).await.expect("a balance change");
            if frame["id"] == "own" {
                break frame;
            }
            assert_eq!(frame["type"], "complete", "the refused subscription only ends: {frame}");
        };
        let change = &change["payload"]["data"]["balanceChanges"];
        assert_eq!(change["balance"], "28.50", "{change}");
        assert_eq!(change["transfer"], json!({"amount": "1.00", "incoming": true, "counterparty": {"handle": "amal_pays"}}));
    });
    assert_eq!(balance(&server, &amal, "amal_pays"), "71.50");

    // A sale up a remix chain: bassem's original declares 10% for its remixes; chadi's remix
    // is sold for 10.00 EGP with the server's 5% fee.
    let original = server.gql(
        "mutation($m: ID!) { publishWork(input: {as: $m, title: \"خط عربي\", royalty: {share: \"0.10\", scope: CHAIN}}) { work { id } userErrors { message } } }",
        json!({"m": bassem_mask}),
        Some(&bassem),
    )["publishWork"]["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = server.gql(
        "mutation($m: ID!) { publishWork(input: {as: $m, title: \"x\", royalty: {share: \"0.9\"}}) { userErrors { field code } } }",
        json!({"m": bassem_mask}),
        Some(&bassem),
    );
    assert_eq!(e["publishWork"]["userErrors"][0]["field"], json!(["input", "royalty", "share"]), "{e}");
    let remix = server.gql(
        "mutation($m: ID!, $o: ID!) { remix(input: {as: $m, original: $o, title: \"Calligraffiti remix\"}) { work { id } } }",
        json!({"m": chadi_mask, "o": original}),
        Some(&chadi),
    )["remix"]["work"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listing = ok(
        &server,
        &chadi,
        "mutation($i: CreateListingInput!) { createListing(input: $i) { listing { id title: terms price kind open split { role amount } } userErrors { field message code } } }",
        json!({"as": chadi_mask, "work": remix, "kind": "SALE", "price": "10.00", "terms": "one signed print"}),
    )["listing"]
        .clone();
    let listing_id = listing["id"].as_str().unwrap().to_owned();
    let bought = ok(&server, &amal, BUY, json!({"as": amal_mask, "listing": listing_id, "id": "order-1"}));
    let legs: Vec<(String, String, String)> = bought["trade"]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["role"].as_str().unwrap().into(),
                l["to"]["handle"].as_str().unwrap_or("").into(),
                l["amount"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [("FEE", "", "0.50"), ("ROYALTY", "bassem_art", "1.00"), ("AUTHOR", "chadi_remix", "8.50")];
    assert_eq!(legs, expected.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())).to_vec());
    assert_eq!(bought["balance"], "61.50");
    let retry = ok(&server, &amal, BUY, json!({"as": amal_mask, "listing": listing_id, "id": "order-1"}));
    assert_eq!(retry["trade"]["id"], bought["trade"]["id"], "a retried purchase is the first trade");
    assert_eq!(balance(&server, &amal, "amal_pays"), "61.50");
    // Listed works are discoverable (the index follows the log within a second).
    let search = "query { search(query: \"Calligraffiti\", kind: LISTING, first: 5) { edges { node { node { ... on Listing { id price } } } } } }";
    let started = std::time::Instant::now();
    loop {
        let found = server.gql(search, json!({}), None);
        if found["search"]["edges"][0]["node"]["node"]["id"] == listing_id.as_str() {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "the listing is not found: {found}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ok(
        &server,
        &chadi,
        "mutation($i: CloseListingInput!) { closeListing(input: $i) { listing { open } userErrors { message code } } }",
        json!({"as": chadi_mask, "listing": listing_id}),
    );
    let e = refused(&server, &amal, BUY, json!({"as": amal_mask, "listing": listing_id, "id": "order-2"}));
    assert_eq!(e["code"], "LISTING_CLOSED", "{e}");

    // A contract in escrow: amal commissions bassem; bassem accepts, delivers; amal approves.
    let due = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 3_600_000)
        .to_string();
    let contract = ok(
        &server,
        &amal,
        "mutation($i: ProposeContractInput!) { proposeContract(input: $i) { contract { id status total milestones { id stage } } userErrors { field message code } } }",
        json!({"as": amal_mask, "counterparty": bassem_mask, "milestones": [{"title": "sketch", "amount": "20.00", "due": due}, {"title": "mural", "amount": "30.00", "due": due}]}),
    )["contract"]
        .clone();
    assert_eq!((contract["status"].as_str(), contract["total"].as_str()), (Some("PROPOSED"), Some("50.00")));
    let contract_id = contract["id"].as_str().unwrap().to_owned();
    let hidden = server.gql("query($c: ID!) { contract(id: $c) { id } }", json!({"c": contract_id}), Some(&chadi));
    assert_eq!(hidden["contract"], Value::Null, "a contract is its parties' alone");
    let act = "mutation($i: ContractInput!) { acceptContract(input: $i) { contract { status milestones { stage } } userErrors { message code } } }";
    let e = refused(&server, &amal, act, json!({"as": amal_mask, "contract": contract_id}));
    assert_eq!(e["code"], "NOT_A_PARTY", "the proposer does not accept its own proposal: {e}");
    ok(&server, &bassem, act, json!({"as": bassem_mask, "contract": contract_id}));
    assert_eq!(money(&server, &amal, "amal_pays")["available"], "11.50", "both milestones in escrow");
    let milestone = |i: usize| format!("{contract_id}.{i}");
    let step = |name: &str| {
        format!(
            "mutation($i: MilestoneActionInput!) {{ {name}(input: $i) {{ contract {{ milestones {{ stage paid }} }} userErrors {{ message code }} }} }}"
        )
    };
    let e = refused(&server, &amal, &step("deliverMilestone"), json!({"as": amal_mask, "milestone": milestone(0)}));
    assert_eq!(e["code"], "NOT_A_PARTY", "{e}");
    ok(&server, &bassem, &step("deliverMilestone"), json!({"as": bassem_mask, "milestone": milestone(0)}));
    let approved = ok(&server, &amal, &step("approveMilestone"), json!({"as": amal_mask, "milestone": milestone(0)}));
    assert_eq!(approved["contract"]["milestones"][0], json!({"stage": "PAID", "paid": "20.00"}));
    assert_eq!(balance(&server, &amal, "amal_pays"), "41.50");

    // Many clients at once: payments among four masks and purchases, with retries; afterwards
    // every piastre issued is somewhere, nobody is below zero, every acknowledged transfer is
    // there once and every refused one absent.
    let listing_2 = ok(
        &server,
        &bassem,
        "mutation($i: CreateListingInput!) { createListing(input: $i) { listing { id } userErrors { message } } }",
        json!({"as": bassem_mask, "work": original, "kind": "LICENSE", "price": "0.75"}),
    )["listing"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let people: Vec<(String, String, String)> = vec![
        (amal.clone(), amal_mask.clone(), "amal_pays".into()),
        (amal.clone(), amal_night.clone(), "amal_night".into()),
        (bassem.clone(), bassem_mask.clone(), "bassem_art".into()),
        (chadi.clone(), chadi_mask.clone(), "chadi_remix".into()),
    ];
    let outgoing = |server: &Server| -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for (token, _, handle) in &people {
            let mut after: Option<String> = None;
            loop {
                let page = server.gql(
                    "query($h: String!, $a: String) { mask(handle: $h) { transfers(first: 100, after: $a) { pageInfo { hasNextPage endCursor } edges { node { id incoming code } } } } }",
                    json!({"h": handle, "a": after}),
                    Some(token),
                );
                let t = &page["mask"]["transfers"];
                for e in t["edges"].as_array().unwrap() {
                    if !e["node"]["incoming"].as_bool().unwrap() && e["node"]["code"] == "TRANSFER" {
                        *ids.entry(e["node"]["id"].as_str().unwrap().to_owned()).or_default() += 1;
                    }
                }
                if !t["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                    break;
                }
                after = t["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            }
        }
        ids
    };
    let before = outgoing(&server);
    let server = std::sync::Arc::new(server);
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let (server, people, listing_2) = (server.clone(), people.clone(), listing_2.clone());
            std::thread::spawn(move || {
                let mut rng = t * 7 + 1;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let (mut transfers, mut trades, mut refusals) = (Vec::new(), Vec::new(), 0);
                for i in 0..60 {
                    let from = (next() % 4) as usize;
                    let to = (from + 1 + (next() % 3) as usize) % 4;
                    let (token, mask, handle) = &people[from];
                    let key = format!("c{t}-{i}");
                    let buying = next() % 5 == 0 && handle != "bassem_art";
                    let mut return_reply = None;
                    let reply = if buying {
                        server.gql(BUY, json!({"i": {"as": mask, "listing": listing_2, "id": key}}), Some(token))
                    } else {
                        let amount = format!("{}.{:02}", next() % 30, next() % 100);
                        let input = json!({"as": mask, "to": people[to].1, "amount": amount, "id": key});
                        let first = server.gql(TRANSFER, json!({"i": input.clone()}), Some(token));
                        if next() % 4 == 0 {
                            // A retry with the same key: the first result when it was made; a
                            // refused one left nothing, so its retry is judged afresh.
                            let again = server.gql(TRANSFER, json!({"i": input}), Some(token));
                            if first["transfer"]["transfer"].is_object() {
                                assert_eq!(again["transfer"]["transfer"]["id"], first["transfer"]["transfer"]["id"]);
                            } else {
                                return_reply = Some(again);
                            }
                        }
                        return_reply.take().unwrap_or(first)
                    };
                    let payload = crate::payload(&reply);
                    if !payload["userErrors"].as_array().unwrap().is_empty() {
                        refusals += 1;
                    } else if buying {
                        trades.push(payload["trade"]["id"].as_str().unwrap().to_owned());
                    } else {
                        transfers.push(payload["transfer"]["id"].as_str().unwrap().to_owned());
                    }
                }
                (transfers, trades, refusals)
            })
        })
        .collect();
    let (mut acknowledged, mut trades, mut refusals) = (Vec::new(), Vec::new(), 0);
    for t in threads {
        let (a, b, r) = t.join().unwrap();
        acknowledged.extend(a);
        trades.extend(b);
        refusals += r;
    }
    assert!(refusals > 0 && acknowledged.len() > 100, "{} acknowledged, {refusals} refused", acknowledged.len());
    // Exactly the acknowledged transfers are new, each once; none of the refused.
    let after = outgoing(&server);
    let mut new: Vec<String> = after.keys().filter(|id| !before.contains_key(*id)).cloned().collect();
    new.sort();
    acknowledged.sort();
    assert_eq!(new, acknowledged, "the new transfers are exactly the acknowledged ones");
    assert!(after.values().all(|&n| n == 1), "every transfer is there once");
    let sold = server.gql("query($l: ID!) { listing(id: $l) { tradeCount } }", json!({"l": listing_2}), None);
    assert_eq!(sold["listing"]["tradeCount"], trades.len(), "every acknowledged purchase, once");
    // Conservation: every piastre issued is in some balance (escrow has not moved yet).
    let totals = server.gql("query { economy { issued fees pending } }", json!({}), None)["economy"].clone();
    let mut held = piastres(totals["fees"].as_str().unwrap());
    for (token, _, handle) in &people {
        let m = money(&server, token, handle);
        let b = piastres(m["balance"].as_str().unwrap());
        assert!(b >= 0 && piastres(m["available"].as_str().unwrap()) >= 0, "{handle}: {m}");
        held += b;
    }
    assert_eq!(held, piastres(totals["issued"].as_str().unwrap()), "every piastre issued is held: {totals}");
    let server = std::sync::Arc::try_unwrap(server).ok().expect("the threads are done");
    assert!(server.terminate().success());

    // The audit checks the chain and the ledger.
    let out = run(&data, &["audit", "verify"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("log intact") && said.contains("ledger balanced"), "{said}");
}

/// `kill -9` while payments stream into `daira exec`, ten times: afterwards the chain and the
/// ledger's invariants verify, every acknowledged transfer is there (sent again, it is a
/// retry: answered without a new event), and the replayed state is the same on every open.
#[test]
fn kill_during_payments_loses_nothing_acknowledged() {
    use crate::crash::Session;
    use std::io::{BufRead, Write};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let exec = || {
        crate::daira(&data)
            .arg("exec")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Twelve masks of twelve users, each given 100 EGP.
    let mut child = exec();
    let mut session = Session::new(&mut child);
    let mut masks = Vec::new();
    for i in 0..12 {
        let user = session.send("{\"register_user\":{}}").id();
        let line = format!("{{\"create_mask\":{{\"user\":\"{user}\",\"kind\":\"public\",\"handle\":\"payer_{i}\"}}}}");
        masks.push((user, session.send(&line).id()));
    }
    drop(session);
    child.wait().unwrap();
    let grants: String = (0..12).map(|i| format!("payer_{i},100.00\n")).collect();
    let grants = write(dir.path(), "grants.csv", &grants);
    assert!(
        run(&data, &["ledger", "issue", "--file", grants.to_str().unwrap(), "--reason", "opening"]).status.success()
    );

    let mut acknowledged: Vec<String> = Vec::new();
    let mut rng = 0x9e37_79b9u64;
    for round in 0..10u64 {
        let mut lines = Vec::new();
        for i in 0..1_500 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let (from, to) = ((rng % 12) as usize, ((rng >> 8) % 11) as usize);
            let to = if to >= from { to + 1 } else { to };
            // Mostly small amounts; now and then more than anyone holds.
            let amount = if rng.is_multiple_of(17) {
                "900.00".to_owned()
            } else {
                format!("{}.{:02}", (rng >> 16) % 8, (rng >> 24) % 100)
            };
            let amount = if amount == "0.00" { "0.01".to_owned() } else { amount };
            let (user, mask) = &masks[from];
            lines.push(format!(
                "{{\"transfer\":{{\"user\":\"{user}\",\"mask\":\"{mask}\",\"to\":\"{}\",\"amount\":\"{amount}\",\"id\":\"r{round}-{i}\"}}}}",
                masks[to].1
            ));
        }
        let mut child = exec();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let writer = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in lines {
                    if writeln!(stdin, "{line}").is_err() {
                        break;
                    }
                }
            })
        };
        let kill_after = 40 + round * 97;
        for (line, answer) in lines.iter().zip(stdout.lines().map_while(Result::ok)).take(kill_after as usize) {
            if answer.starts_with("ok ") {
                acknowledged.push(line.clone());
            } else {
                assert!(answer.starts_with("rejected ") && answer.contains("insufficient funds"), "{answer}");
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = writer.join();
        let out = run(&data, &["audit", "verify"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.contains("ledger balanced"), "round {round}: {said}");
        let replayed = said.lines().find(|l| l.starts_with("state hash")).unwrap().to_owned();
        assert!(crate::stats(&data)["state_hash"].as_str().is_some_and(|h| replayed.ends_with(h)), "round {round}");
    }
    // Every acknowledged transfer is there: sent again, each is a retry that writes nothing.
    let head = crate::stats(&data)["log"]["length"].clone();
    let mut child = exec();
    let mut stdin = child.stdin.take().unwrap();
    let all = acknowledged.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(all.as_bytes()));
    let answers: Vec<String> =
        std::io::BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    writer.join().unwrap().unwrap();
    child.wait().unwrap();
    assert_eq!(answers.len(), acknowledged.len());
    assert!(answers.iter().all(|a| a.starts_with("ok ")), "every acknowledged transfer is a retry now");
    assert_eq!(crate::stats(&data)["log"]["length"], head, "and none wrote anything");
    assert!(acknowledged.len() > 1_000, "{} acknowledged", acknowledged.len());
}

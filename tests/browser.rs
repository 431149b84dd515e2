//! The HTML report in a real browser (Debian's headless Chromium, installed by `.ci/setup`):
//! at 1400 and at 800 px wide, the first screen holds the verdict and the headline figures
//! (RTO, RPO, lost acknowledged writes) and the gates begin on it; nothing is wider than the
//! window; and no short word or number is broken across lines in a narrow column.
//!
//! The page is measured as the browser lays it out: a copy of the report gets a small script
//! that writes the boxes it finds into an attribute, and `--dump-dom` prints the page after it
//! ran. The copy drops the report's Content-Security-Policy, which forbids scripts; nothing
//! else of the page changes.

#[path = "reports/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "common/tool.rs"]
mod tool;

use std::path::{Path, PathBuf};
use std::process::Command;

const SCREEN_HEIGHT: i64 = 900;

/// The script: boxes of the verdict, the headline rows and the gates table, the page's width,
/// and the cells whose one short word the layout broke across lines.
const PROBE: &str = r#"<script>
const box = e => { if (!e) return null; const b = e.getBoundingClientRect();
  return {top: Math.round(b.top), bottom: Math.round(b.bottom)}; };
const h2 = t => [...document.querySelectorAll('h2')].find(h => h.textContent.trim() == t);
const row = t => [...document.querySelectorAll('table.facts th')]
  .find(th => th.textContent.trim().startsWith(t))?.parentElement;
const broken = [];
for (const cell of document.querySelectorAll('td, th')) {
  const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    for (const m of node.textContent.matchAll(/\S+/g)) {
      if (m[0].length > 24) continue;
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
      if (lines.size > 1) broken.push(m[0]);
    }
  }
}
const wide = [];
for (const t of document.querySelectorAll('table, figure')) {
  if (t.getBoundingClientRect().right <= innerWidth) continue;
  let h = t.previousElementSibling;
  while (h && !/^H[1-3]$/.test(h.tagName)) h = h.previousElementSibling;
  wide.push(h ? h.textContent.trim() : t.tagName);
}
document.body.setAttribute('data-probe', JSON.stringify({ wide,
  width: innerWidth, height: innerHeight, scroll_width: document.documentElement.scrollWidth,
  verdict: box(document.querySelector('.verdict')),
  rto: box(row('RTO (first')), rpo: box(row('RPO (time)')), lost: box(row('acknowledged writes lost')),
  gates: box(h2('Gates')?.nextElementSibling), broken }));
</script></body>"#;

fn chromium() -> Option<PathBuf> {
    tool::required(
        &["chromium-headless-shell", "chromium"],
        "the HTML report is laid out in a real browser",
    )
}

#[derive(serde::Deserialize, Debug)]
struct Box_ {
    top: i64,
    bottom: i64,
}

#[derive(serde::Deserialize, Debug)]
struct Probe {
    width: i64,
    height: i64,
    scroll_width: i64,
    verdict: Option<Box_>,
    rto: Option<Box_>,
    rpo: Option<Box_>,
    lost: Option<Box_>,
    gates: Option<Box_>,
    broken: Vec<String>,
    /// The headings of the tables and figures wider than the window.
    wide: Vec<String>,
}

fn measure(browser: &Path, page: &Path, width: u32) -> Probe {
    let out = Command::new(browser)
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--window-size={width},{SCREEN_HEIGHT}"),
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("data-probe=\"").unwrap_or_else(|| {
        panic!(
            "the probe did not run in {}: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    }) + "data-probe=\"".len();
    let end = start + dom[start..].find('"').expect("closing quote");
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).expect("the probe's figures")
}

#[test]
fn the_first_screen_holds_the_verdict_and_headline_figures_at_1400_and_800_px() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (name, report) in fixture::rendered_reports() {
        let mut html = Vec::new();
        etcd_drill::report::html::render(&report, &mut html).expect("renders");
        let html = String::from_utf8(html).unwrap();
        let csp_start = html
            .find("<meta http-equiv=\"Content-Security-Policy\"")
            .expect("the report sets a CSP");
        let csp_end = csp_start + html[csp_start..].find('>').unwrap() + 1;
        let page = dir.path().join(format!("{name}.html"));
        let probed =
            format!("{}{}", &html[..csp_start], &html[csp_end..]).replace("</body>", PROBE);
        std::fs::write(&page, probed).unwrap();
        let restored = report.restore.is_some();
        if std::env::var_os("KEEP_PROBE").is_some() {
            let _ = std::fs::copy(&page, format!("/tmp/probe/{name}.html"));
        }
        for width in [1400, 800] {
            let p = measure(&browser, &page, width);
            let at = format!("{name} at {width} px: {p:?}");
            assert_eq!(p.width, width as i64, "{at}");
            assert!(
                p.scroll_width <= p.width && p.wide.is_empty(),
                "wider than the window: {at}"
            );
            let on_screen = |b: &Option<Box_>, what: &str| {
                let b = b.as_ref().unwrap_or_else(|| panic!("no {what}: {at}"));
                assert!(
                    b.top >= 0 && b.bottom <= p.height,
                    "{what} is not on the first screen: {at}"
                );
            };
            on_screen(&p.verdict, "verdict");
            on_screen(&p.lost, "lost acknowledged writes");
            if restored {
                on_screen(&p.rto, "RTO");
                on_screen(&p.rpo, "RPO");
            }
            let gates = p.gates.as_ref().expect("a gates table");
            assert!(
                gates.top < p.height,
                "the gates start below the first screen: {at}"
            );
            assert!(p.broken.is_empty(), "words broken across lines: {at}");
        }
    }
}

//! Numbers, digits and times as lists of spoken words, in English and Mandarin.
//!
//! Each word is a prompt file of the call's language (`prompts/<lang>/<word>.wav`); the
//! checker makes sure every word a language needs is there.

/// Words `say number` needs in a language.
pub(crate) fn number_words(lang: &str) -> &'static [&'static str] {
    match lang {
        "zh" => &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "hundred", "thousand", "wan",
            "yi", "minus",
        ],
        _ => &[
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16", "17", "18", "19", "20", "30", "40", "50", "60", "70", "80", "90", "hundred",
            "thousand", "million", "minus",
        ],
    }
}

/// Words `say time` needs (beyond the numbers).
pub(crate) fn time_words(lang: &str) -> &'static [&'static str] {
    match lang {
        "zh" => &["am", "pm", "dian", "fen", "zheng"],
        _ => &["am", "pm", "oh", "oclock"],
    }
}

/// Languages whose number and time grammar is built in.
pub(crate) fn is_known(lang: &str) -> bool {
    matches!(lang, "en" | "zh")
}

const UNITS: [&str; 20] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19",
];
const TENS: [&str; 10] = ["", "", "20", "30", "40", "50", "60", "70", "80", "90"];

/// The digits of `s` one by one; other characters are skipped.
pub(crate) fn digits(s: &str, out: &mut Vec<&'static str>) {
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            out.push(UNITS[d as usize]);
        }
    }
}

/// `n` as words.
pub(crate) fn number(lang: &str, n: i64, out: &mut Vec<&'static str>) {
    if n < 0 {
        out.push("minus");
    }
    let n = n.unsigned_abs();
    if lang == "zh" {
        zh_number(n, out);
    } else {
        en_number(n, out);
    }
}

fn en_below_thousand(n: u64, out: &mut Vec<&'static str>) {
    let (h, r) = (n / 100, n % 100);
    if h > 0 {
        out.push(UNITS[h as usize]);
        out.push("hundred");
    }
    if r == 0 && h > 0 {
        return;
    }
    if r < 20 {
        out.push(UNITS[r as usize]);
    } else {
        out.push(TENS[(r / 10) as usize]);
        if r % 10 != 0 {
            out.push(UNITS[(r % 10) as usize]);
        }
    }
}

fn en_number(n: u64, out: &mut Vec<&'static str>) {
    if n == 0 {
        out.push("0");
        return;
    }
    // Above the millions, a count of millions is said as a number itself.
    let millions = n / 1_000_000;
    let thousands = (n / 1000) % 1000;
    let rest = n % 1000;
    if millions > 0 {
        en_number(millions, out);
        out.push("million");
    }
    if thousands > 0 {
        en_below_thousand(thousands, out);
        out.push("thousand");
    }
    if rest > 0 {
        en_below_thousand(rest, out);
    }
}

/// Mandarin: 一万二千三百零五 (12305); 十五 for 15 at the start, 一十五 inside.
fn zh_number(n: u64, out: &mut Vec<&'static str>) {
    if n == 0 {
        out.push("0");
        return;
    }
    let yi = n / 100_000_000;
    let wan = (n / 10_000) % 10_000;
    let rest = n % 10_000;
    let mut started = false;
    let mut need_zero = false;
    if yi > 0 {
        zh_number(yi, out);
        out.push("yi");
        started = true;
    }
    for (group, unit) in [(wan, Some("wan")), (rest, None)] {
        if group == 0 {
            if started {
                need_zero = true;
            }
            continue;
        }
        if started && (need_zero || group < 1000) {
            out.push("0");
        }
        zh_below_10k(group, started, out);
        if let Some(u) = unit {
            out.push(u);
        }
        started = true;
        need_zero = false;
    }
}

fn zh_below_10k(n: u64, inside: bool, out: &mut Vec<&'static str>) {
    let parts = [
        (n / 1000, Some("thousand")),
        ((n / 100) % 10, Some("hundred")),
        ((n / 10) % 10, Some("10")),
        (n % 10, None),
    ];
    let mut said = false;
    let mut zero = false;
    for (i, (d, unit)) in parts.into_iter().enumerate() {
        if d == 0 {
            if said {
                zero = true;
            }
            continue;
        }
        if zero {
            out.push("0");
            zero = false;
        }
        // 十五, not 一十五, when the tens lead the whole number.
        let leading_ten = i == 2 && d == 1 && !said && !inside;
        if !leading_ten {
            out.push(UNITS[d as usize]);
        }
        if let Some(u) = unit {
            out.push(u);
        }
        said = true;
    }
}

/// A time of day (`minutes` since midnight) as words.
pub(crate) fn time(lang: &str, minutes: u16, out: &mut Vec<&'static str>) {
    let (h, m) = (minutes / 60 % 24, minutes % 60);
    if lang == "zh" {
        out.push(if h < 12 { "am" } else { "pm" });
        let h12 = if h % 12 == 0 { 12 } else { h % 12 };
        zh_number(u64::from(h12), out);
        out.push("dian");
        if m == 0 {
            out.push("zheng");
        } else {
            zh_number(u64::from(m), out);
            out.push("fen");
        }
    } else {
        let h12 = if h % 12 == 0 { 12 } else { h % 12 };
        en_below_thousand(u64::from(h12), out);
        if m == 0 {
            out.push("oclock");
        } else {
            if m < 10 {
                out.push("oh");
            }
            en_below_thousand(u64::from(m), out);
        }
        out.push(if h < 12 { "am" } else { "pm" });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(lang: &str, n: i64) -> String {
        let mut v = Vec::new();
        number(lang, n, &mut v);
        v.join(" ")
    }

    fn tm(lang: &str, h: u16, m: u16) -> String {
        let mut v = Vec::new();
        time(lang, h * 60 + m, &mut v);
        v.join(" ")
    }

    #[test]
    fn english_numbers() {
        assert_eq!(num("en", 0), "0");
        assert_eq!(num("en", 15), "15");
        assert_eq!(num("en", 42), "40 2");
        assert_eq!(num("en", 300), "3 hundred");
        assert_eq!(num("en", 1205), "1 thousand 2 hundred 5");
        assert_eq!(num("en", -2_000_019), "minus 2 million 19");
    }

    #[test]
    fn mandarin_numbers() {
        assert_eq!(num("zh", 10), "10");
        assert_eq!(num("zh", 15), "10 5");
        assert_eq!(num("zh", 20), "2 10");
        assert_eq!(num("zh", 105), "1 hundred 0 5");
        assert_eq!(num("zh", 1010), "1 thousand 0 1 10");
        assert_eq!(num("zh", 12305), "1 wan 2 thousand 3 hundred 0 5");
        assert_eq!(num("zh", 100_005), "10 wan 0 5");
        assert_eq!(num("zh", 200_000_000), "2 yi");
    }

    #[test]
    fn times() {
        assert_eq!(tm("en", 9, 5), "9 oh 5 am");
        assert_eq!(tm("en", 18, 0), "6 oclock pm");
        assert_eq!(tm("en", 0, 30), "12 30 am");
        assert_eq!(tm("zh", 9, 0), "am 9 dian zheng");
        assert_eq!(tm("zh", 14, 25), "pm 2 dian 2 10 5 fen");
    }

    #[test]
    fn every_word_said_is_in_the_word_list() {
        for lang in ["en", "zh"] {
            let mut out = Vec::new();
            for n in (-20..2000).chain([12345, 1_000_000, 123_456_789, 20_000_005]) {
                number(lang, n, &mut out);
            }
            for m in 0..1440 {
                time(lang, m, &mut out);
            }
            digits("0123456789", &mut out);
            for w in out {
                assert!(
                    number_words(lang).contains(&w) || time_words(lang).contains(&w),
                    "{lang}: {w}"
                );
            }
        }
    }
}

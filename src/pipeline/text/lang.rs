//! Language of an entry's text, as an ISO 639-1 code.
//!
//! whatlang (trigram profiles for 70 languages, no model files, builds in seconds) does the
//! detection. It knows Russian, Uzbek and Turkmen but not Kazakh, Kyrgyz or Tajik, which it
//! reports as Russian or another Cyrillic language; those three are told apart from Russian by the
//! letters only their alphabets have (Kazakh ә ғ қ ң ө ұ ү һ і, Kyrgyz ң ө ү, Tajik ғ ӣ қ ӯ ҳ ҷ).
//! lingua knows Kazakh but not Uzbek, and weighs far more.

use whatlang::{Lang, Script};

/// whatlang's confidence below which a guess is not reported.
pub const MIN_CONFIDENCE: f64 = 0.5;

/// Fewer letters than this and no language is reported: a title alone is too little to tell.
pub const MIN_LETTERS: usize = 20;

/// Detects the language of a text; `None` when the text is too short or the guess unreliable.
pub fn detect_language(text: &str) -> Option<String> {
    // Counting stops at the bound: a long text is not walked to its end to learn it has 20.
    let letters = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(MIN_LETTERS)
        .count();
    if letters < MIN_LETTERS {
        return None;
    }
    // The first few thousand characters decide as well as the whole text, at a fraction of the
    // cost on long articles.
    let sample = match text.char_indices().nth(1200) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    let info = whatlang::detect(sample)?;
    if info.script() == Script::Cyrillic
        && let Some(code) = central_asian_cyrillic(sample)
    {
        return Some(code.to_string());
    }
    if info.confidence() < MIN_CONFIDENCE {
        return None;
    }
    iso639_1(info.lang()).map(str::to_string)
}

/// Kazakh, Kyrgyz or Tajik by the letters their Cyrillic alphabets add to Russian's. Ukrainian
/// and Belarusian share `і`, Bashkir and Tatar share `ә ө ү ң`; a share of at least 1 % of the
/// Cyrillic letters, and the letters that set each alphabet apart, keep those out.
fn central_asian_cyrillic(text: &str) -> Option<&'static str> {
    let (mut cyrillic, mut kk, mut kk_only, mut ky, mut tg, mut tg_only, mut uk_be) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    for c in text.chars().flat_map(char::to_lowercase) {
        if ('\u{0400}'..='\u{04FF}').contains(&c) {
            cyrillic += 1;
        }
        match c {
            'ә' | 'ұ' | 'һ' => {
                kk += 1;
                kk_only += 1;
            }
            'ғ' | 'қ' => {
                kk += 1;
                tg += 1;
            }
            'і' => kk += 1,
            'ң' | 'ө' | 'ү' => {
                kk += 1;
                ky += 1;
            }
            'ӣ' | 'ӯ' | 'ҳ' | 'ҷ' => {
                tg += 1;
                tg_only += 1;
            }
            'ї' | 'є' | 'ґ' | 'ў' => uk_be += 1,
            _ => {}
        }
    }
    if cyrillic == 0 || uk_be > 0 {
        return None;
    }
    let share = |n: usize| n * 100 >= cyrillic;
    if kk_only > 0 && share(kk) {
        Some("kk")
    } else if tg_only > 0 && share(tg) {
        Some("tg")
    } else if ky > 0 && kk == ky && share(ky) {
        Some("ky")
    } else {
        None
    }
}

/// whatlang's ISO 639-3 languages → ISO 639-1.
fn iso639_1(lang: Lang) -> Option<&'static str> {
    Some(match lang {
        Lang::Epo => "eo",
        Lang::Eng => "en",
        Lang::Rus => "ru",
        Lang::Cmn => "zh",
        Lang::Spa => "es",
        Lang::Por => "pt",
        Lang::Ita => "it",
        Lang::Ben => "bn",
        Lang::Fra => "fr",
        Lang::Deu => "de",
        Lang::Ukr => "uk",
        Lang::Kat => "ka",
        Lang::Ara => "ar",
        Lang::Hin => "hi",
        Lang::Jpn => "ja",
        Lang::Heb => "he",
        Lang::Yid => "yi",
        Lang::Pol => "pl",
        Lang::Amh => "am",
        Lang::Jav => "jv",
        Lang::Kor => "ko",
        Lang::Nob => "nb",
        Lang::Dan => "da",
        Lang::Swe => "sv",
        Lang::Fin => "fi",
        Lang::Tur => "tr",
        Lang::Nld => "nl",
        Lang::Hun => "hu",
        Lang::Ces => "cs",
        Lang::Ell => "el",
        Lang::Bul => "bg",
        Lang::Bel => "be",
        Lang::Mar => "mr",
        Lang::Kan => "kn",
        Lang::Ron => "ro",
        Lang::Slv => "sl",
        Lang::Hrv => "hr",
        Lang::Srp => "sr",
        Lang::Mkd => "mk",
        Lang::Lit => "lt",
        Lang::Lav => "lv",
        Lang::Est => "et",
        Lang::Tam => "ta",
        Lang::Vie => "vi",
        Lang::Urd => "ur",
        Lang::Tha => "th",
        Lang::Guj => "gu",
        Lang::Uzb => "uz",
        Lang::Pan => "pa",
        Lang::Aze => "az",
        Lang::Ind => "id",
        Lang::Tel => "te",
        Lang::Pes => "fa",
        Lang::Mal => "ml",
        Lang::Ori => "or",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Sin => "si",
        Lang::Khm => "km",
        Lang::Tuk => "tk",
        Lang::Aka => "ak",
        Lang::Zul => "zu",
        Lang::Sna => "sn",
        Lang::Afr => "af",
        Lang::Lat => "la",
        Lang::Slk => "sk",
        Lang::Cat => "ca",
        Lang::Tgl => "tl",
        Lang::Hye => "hy",
        Lang::Cym => "cy",
    })
}

/// Whether a record in `language` belongs in a corpus limited to `allowed` (ISO 639-1 codes,
/// compared case-insensitively). An empty list allows everything; an undetected language is
/// kept only when the list is empty.
pub fn language_allowed(language: Option<&str>, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    language.is_some_and(|l| allowed.iter().any(|a| a.eq_ignore_ascii_case(l)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_languages() {
        let cases = [
            (
                "en",
                "The central bank cut its main interest rate on Thursday, citing a steady slowdown in inflation.",
            ),
            (
                "ru",
                "Центральный банк снизил ключевую ставку в четверг, сославшись на замедление инфляции.",
            ),
            (
                "fr",
                "La banque centrale a abaissé jeudi son taux directeur, en invoquant le ralentissement de l’inflation.",
            ),
            (
                "uz",
                "Markaziy bank payshanba kuni asosiy stavkani pasaytirdi. Bank ma’lumotlariga ko‘ra, inflyatsiya sekinlashmoqda va narxlar barqarorlashmoqda.",
            ),
            (
                "kk",
                "Ұлттық банк бейсенбі күні негізгі мөлшерлемені төмендетті, инфляцияның баяулағанын атап өтті.",
            ),
            (
                "uk",
                "Національний банк у четвер знизив облікову ставку, пославшись на сповільнення інфляції.",
            ),
        ];
        for (want, text) in cases {
            assert_eq!(detect_language(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn kyrgyz_and_tajik_by_their_letters() {
        assert_eq!(
            detect_language("Бишкекте жаңы мектеп ачылды, анда бир миң окуучу билим алат. Мэрия дагы үч мектеп курууну пландап жатат.")
                .as_deref(),
            Some("ky")
        );
        assert_eq!(
            detect_language(
                "Дар шаҳри Душанбе мактаби нав кушода шуд, ки дар он ҳазор хонанда таҳсил мекунад."
            )
            .as_deref(),
            Some("tg")
        );
    }

    #[test]
    fn too_short_is_unknown() {
        assert_eq!(detect_language("Hello"), None);
        assert_eq!(detect_language(""), None);
        assert_eq!(detect_language("12 345 678 — 2026"), None);
    }

    #[test]
    fn allowed_languages() {
        let only = vec!["en".to_string(), "RU".to_string()];
        assert!(language_allowed(Some("ru"), &only));
        assert!(!language_allowed(Some("fr"), &only));
        assert!(!language_allowed(None, &only));
        assert!(language_allowed(None, &[]));
    }
}

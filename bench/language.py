"""Language identification on short texts: headlines, where it goes wrong most.

    .venv/bin/python -m bench.language --data ../shared/data
    .venv/bin/python -m bench.language --data ../shared/data --sweep --json /tmp/lang.json

Every BBC News headline (dev split) and Reuters-21578 title is English, so the accuracy
on them is the share detected as ``en``; an article that is not detected as English gets
no English NLP. Whole BBC articles (headline and body, as the pipeline reads them) check
that long texts are still right. Hand-written headlines in French, Spanish, German,
Italian, Portuguese and Dutch (8 each, below) check that short non-English texts are
still told apart, and a few sentences in languages Wirestream does not route check that
they come out as ``und``. The cost is the detector's time per article on the first
``--articles`` BBC articles (best of 3 passes), and what its first call adds to the
process's resident memory (the model load).

``--sweep`` also shows the accuracy for other values of ``min_probability`` (the
probability a language other than English needs to win, nlp/data/languages.toml).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from training import DATA

#: Hand-written news headlines (not from any data set), 8 per language.
FOREIGN: dict[str, tuple[str, ...]] = {
    "fr": (
        "Le gouvernement annonce une réforme des retraites pour l'an prochain",
        "Grève nationale dans les transports publics ce jeudi",
        "Le président de la République reçoit le chancelier allemand à l'Élysée",
        "Incendie dans une usine chimique près de Lyon, aucun blessé",
        "La Banque centrale européenne maintient ses taux directeurs",
        "Les prix de l'énergie continuent de grimper en Europe",
        "Un séisme de magnitude 6 frappe le sud du pays",
        "Victoire du Paris Saint-Germain face à Marseille en championnat",
    ),
    "es": (
        "El Gobierno aprueba una nueva ley de vivienda",
        "Huelga de médicos en los hospitales públicos de Madrid",
        "El presidente viaja a Bruselas para la cumbre europea",
        "Las inundaciones dejan cientos de desplazados en el norte",
        "El Banco de España rebaja sus previsiones de crecimiento",
        "Detenidos tres hombres por el robo de obras de arte",
        "La selección gana el partido y se clasifica para el Mundial",
        "Sube el precio de la gasolina por tercera semana consecutiva",
    ),
    "de": (
        "Die Bundesregierung beschließt ein neues Klimaschutzgesetz",
        "Streik bei der Bahn legt den Verkehr in ganz Deutschland lahm",
        "Kanzler trifft Präsidenten zu Gesprächen über die Ukraine",
        "Hochwasser in Bayern: Tausende Menschen müssen ihre Häuser verlassen",
        "Die Inflation ist im Oktober wieder gestiegen",
        "Polizei nimmt mutmaßlichen Täter nach Überfall auf Bank fest",
        "Bayern München gewinnt das Spitzenspiel gegen Dortmund",
        "Neue Studie warnt vor den Folgen der Dürre für die Landwirtschaft",
    ),
    "it": (
        "Il governo approva la manovra economica per il prossimo anno",
        "Sciopero dei trasporti a Roma, metro chiusa per tutta la giornata",
        "Il presidente del Consiglio incontra i sindacati a Palazzo Chigi",
        "Terremoto in Centro Italia, nessun danno grave agli edifici",
        "La Banca d'Italia prevede una crescita più lenta",
        "Arrestati due uomini per la rapina in una gioielleria di Milano",
        "La Juventus vince il derby e torna in testa alla classifica",
        "Aumentano i prezzi dell'energia per le famiglie italiane",
    ),
    "pt": (
        "O governo anuncia um novo plano para a saúde pública",
        "Greve dos professores fecha escolas em todo o país",
        "O presidente recebe o primeiro-ministro no Palácio do Planalto",
        "Chuvas fortes provocam deslizamentos de terra no Rio de Janeiro",
        "O Banco Central mantém a taxa de juros pela terceira vez",
        "Polícia prende suspeitos de assalto a banco em Lisboa",
        "O Benfica vence o clássico e assume a liderança do campeonato",
        "Preço dos combustíveis volta a subir nas bombas",
    ),
    "nl": (
        "Het kabinet presenteert een nieuw plan voor de woningmarkt",
        "Staking bij het openbaar vervoer legt het land plat",
        "De premier ontmoet de Duitse bondskanselier in Den Haag",
        "Overstromingen in Limburg: honderden mensen geëvacueerd",
        "De Nederlandsche Bank verwacht een lagere groei van de economie",
        "Politie arresteert verdachte van de overval op een juwelier",
        "Ajax wint de klassieker van Feyenoord in een vol stadion",
        "De prijzen van energie stijgen opnieuw voor huishoudens",
    ),
}
#: Hand-written sentences in languages that are not routed: expected "und".
OTHERS: dict[str, str] = {
    "sv": "Regeringen presenterar en ny budget för nästa år med stora satsningar på försvaret",
    "pl": "Rząd przyjął nowy projekt ustawy o podatkach, który wejdzie w życie w przyszłym roku",
    "tr": "Hükümet yeni ekonomik programı açıkladı ve enflasyonun düşmesini bekliyor",
    "ru": "Правительство объявило о новых мерах поддержки экономики в следующем году",
    "ro": "Guvernul a aprobat un nou pachet de măsuri pentru sprijinirea economiei",
    "zh": "政府 宣布 了 明年 支持 经济 的 新 措施 以及 其他 计划",
    "ar": "أعلنت الحكومة عن إجراءات جديدة لدعم الاقتصاد في العام المقبل",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def labelled_sets(data: Path) -> dict[str, list[tuple[str, str]]]:
    """Name → [(text, expected language)]."""
    bbc = read_jsonl(data / "bbc" / "bbc.dev.jsonl")
    reuters = read_jsonl(data / "reuters21578" / "reuters21578.jsonl")
    return {
        "BBC headlines": [(b["headline"], "en") for b in bbc],
        "Reuters titles": [(r["title"], "en") for r in reuters if r.get("title")],
        "BBC articles": [(f"{b['headline']}\n\n{b['body']}", "en") for b in bbc],
        "fr/es/de/it/pt/nl headlines": [(t, c) for c, ts in FOREIGN.items() for t in ts],
        "other languages (und)": [(t, "und") for t in OTHERS.values()],
    }


def accuracy(detect: Callable[[str], str], items: Sequence[tuple[str, str]]) -> dict[str, Any]:
    got = [detect(text) for text, _ in items]
    right = sum(g == want for g, (_, want) in zip(got, items, strict=True))
    wrong = Counter(g for g, (_, want) in zip(got, items, strict=True) if g != want)
    return {
        "n": len(items),
        "correct": right,
        "accuracy": round(right / len(items), 4),
        "wrong": dict(wrong.most_common()),
    }


def resident_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cost(detect: Callable[[str], str], texts: Sequence[str]) -> dict[str, float]:
    """Milliseconds per article (best of 3 passes) and the first call's load time and
    resident-memory increase."""
    before, start = resident_kb(), time.perf_counter()
    detect("The minister said on Monday that talks would go on.")
    load_s = time.perf_counter() - start
    grown_mb = (resident_kb() - before) / 1024
    passes = []
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            detect(text)
        passes.append((time.perf_counter() - start) / len(texts) * 1000)
    return {
        "ms_per_article": round(min(passes), 3),
        "first_call_s": round(load_s, 2),
        "first_call_rss_mb": round(grown_mb, 1),
    }


def sweep(
    sets: dict[str, list[tuple[str, str]]], thresholds: Sequence[float]
) -> dict[str, dict[str, float]]:
    """Accuracy of each set for other ``min_probability`` values (same model, same rules)."""
    from nlp.language import detect_language

    out: dict[str, dict[str, float]] = {}
    for threshold in thresholds:

        def detect(text: str, threshold: float = threshold) -> str:
            return detect_language(text, min_probability=threshold)

        out[str(threshold)] = {
            name: accuracy(detect, items)["accuracy"] for name, items in sets.items()
        }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    parser.add_argument("--articles", type=int, default=300, help="BBC articles for the cost")
    parser.add_argument("--sweep", action="store_true", help="also try other min_probability")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    from nlp.language import detect_language

    sets = labelled_sets(args.data)
    articles = [text for text, _ in sets["BBC articles"][: args.articles]]
    spent = cost(detect_language, articles)
    results: dict[str, Any] = {
        "sets": {name: accuracy(detect_language, items) for name, items in sets.items()},
        "cost": {**spent, "articles": len(articles)},
    }
    print(f"{'set':30} {'texts':>6} {'correct':>8} {'accuracy':>9}  most frequent errors")
    for name, r in results["sets"].items():
        errors = ", ".join(f"{k} {v}" for k, v in list(r["wrong"].items())[:4])
        print(f"{name:30} {r['n']:6d} {r['correct']:8d} {r['accuracy']:9.4f}  {errors}")
    print(
        f"\ncost: {spent['ms_per_article']:.3f} ms/article on {len(articles)} BBC articles"
        f" (best of 3); first call {spent['first_call_s']:.2f} s,"
        f" +{spent['first_call_rss_mb']:.1f} MB resident"
    )
    if args.sweep:
        results["sweep"] = sweep(sets, (0.3, 0.5, 0.7, 0.9))
        print(f"\n{'min_probability':>15}  " + "  ".join(f"{n[:14]:>14}" for n in sets))
        for threshold, row in results["sweep"].items():
            print(f"{threshold:>15}  " + "  ".join(f"{row[n]:14.4f}" for n in sets))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
